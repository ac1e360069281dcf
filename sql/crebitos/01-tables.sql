-- Crébitos tables. Every file in this folder is idempotent: the API applies them
-- on each start-up and the PostgreSQL image runs them as init scripts.

CREATE TABLE IF NOT EXISTS clientes (
  id     integer PRIMARY KEY,
  limite integer NOT NULL CHECK (limite >= 0),
  saldo  integer NOT NULL DEFAULT 0,
  -- The procedure never lets this fire; it is the last line of defence for
  -- anything that writes to the table by hand.
  CONSTRAINT saldo_respeita_limite CHECK (saldo >= -limite)
);

CREATE TABLE IF NOT EXISTS transacoes (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cliente_id   integer NOT NULL REFERENCES clientes (id),
  valor        integer NOT NULL CHECK (valor > 0),
  tipo         "char" NOT NULL CHECK (tipo IN ('c', 'd')),
  -- text, not varchar(10): PostgreSQL counts code points, the contract counts
  -- characters as a user sees them, so the API enforces the length.
  descricao    text NOT NULL,
  realizada_em timestamptz NOT NULL
);

-- The statement reads the newest rows of one client.
CREATE INDEX IF NOT EXISTS transacoes_por_cliente ON transacoes (cliente_id, id DESC);
