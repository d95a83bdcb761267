-- Search (issue 14): a request that arrives with its folded text (the site's INSERT, see
-- migration 0010) is no longer indexed by a trigger: its writer indexes it in the same
-- transaction (webapp/consultations.py, `store`), and the site's group commit does so after
-- every request of the group has run. FTS5 writes what it has gathered to disk as a new
-- segment at every savepoint, and a trigger's statement is one: each stored request made a
-- segment of its own, which the index then spent time merging (about 90 of the 125
-- microseconds an INSERT took, and most of the bytes written). Indexed together, the
-- group's requests make one segment at its COMMIT.
--
-- Rows inserted without their folded text (search_text left '': the command line, a
-- restore, a test) are still folded and indexed by migration 0010's trigger, and updates
-- and deletes keep their triggers: only the site's own INSERT changed.

DROP TRIGGER consultations_fts_insert_given;
