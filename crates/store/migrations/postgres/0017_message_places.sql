-- A message's place in its thread is unique. The message writer assigns places after locking
-- the thread (PostgreSQL) or under the one write lock (SQLite); this makes the database refuse
-- a second message in the same place whatever happens above it.
DROP INDEX messages_thread;
CREATE UNIQUE INDEX messages_thread ON messages(thread_id, seq);
