-- The five clients of the contest; no other id exists.
-- Only those missing are inserted, found with a plain read: INSERT … ON
-- CONFLICT alone would wait for any transaction holding a client's row, while
-- this script (applied again by every API instance that starts, as one
-- transaction) holds a lock on transacoes that transaction needs next — a
-- deadlock, measured under load by the fault suite (kill -9 of an API).
INSERT INTO clientes (id, limite)
SELECT seed.id, seed.limite
  FROM (VALUES (1, 100000), (2, 80000), (3, 1000000), (4, 10000000), (5, 500000)) AS seed (id, limite)
 WHERE NOT EXISTS (SELECT FROM clientes c WHERE c.id = seed.id)
ON CONFLICT (id) DO NOTHING;
