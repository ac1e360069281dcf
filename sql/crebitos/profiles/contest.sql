-- PostgreSQL profile "contest": the relaxations the contest's own seed used.
-- Unlogged tables skip the write-ahead log; a crash empties them. Pair with
-- fsync, synchronous_commit and full_page_writes off (postgresql-contest.conf).
ALTER TABLE transacoes SET UNLOGGED;
ALTER TABLE clientes SET UNLOGGED;
