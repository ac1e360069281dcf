-- PostgreSQL profile "durable": every write is logged and flushed before the
-- client gets its 200 (postgresql-durable.conf). Explicit, so switching a kept
-- database from "contest" back to "durable" works too.
ALTER TABLE clientes SET LOGGED;
ALTER TABLE transacoes SET LOGGED;
