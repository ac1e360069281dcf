-- The five clients of the contest; no other id exists.
INSERT INTO clientes (id, limite) VALUES
  (1, 100000),
  (2, 80000),
  (3, 1000000),
  (4, 10000000),
  (5, 500000)
ON CONFLICT (id) DO NOTHING;
