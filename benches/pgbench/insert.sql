-- One single-row insert per transaction, shaped like a message row (uuid key, chat, seq, text,
-- time), with synchronous_commit at its default (on): the reference for chatcore's send.
\set seq random(1, 1000000000)
INSERT INTO messages (id, chat_id, seq, text)
VALUES (gen_random_uuid(), '00000000-0000-0000-0000-000000000001', :seq, 'pgbench message');
