-- PostgreSQL profile "durable": every write is logged and flushed before the
-- client gets its 200 (postgresql-durable.conf). Explicit, so switching a kept
-- database from "contest" back to "durable" works too.
-- clientes first: a logged table may not reference an unlogged one.
ALTER TABLE clientes SET LOGGED;
ALTER TABLE transacoes SET LOGGED;
