-- Every email is updated several times on its way (accepted, queued, sending, sent, purged),
-- and each status change leaves a dead entry in the partial indexes of the work waiting
-- (`emails_unfinished`). The clock's sweeps read those indexes: until a vacuum removes the dead
-- entries, a sweep visits every one left since the last vacuum (the soak measured the stalled
-- sweep at 1.2 s after 190,000 emails on a server with autovacuum off, and a copy of the index
-- read 0.03 ms once vacuumed instead of 76 ms). PostgreSQL's default waits for a fifth of the
-- table to be dead before vacuuming; these tables are vacuumed after 1% (and at least a
-- thousand rows), so the work waiting stays cheap to find. A table of hundreds of millions of
-- rows wants partitions instead (docs/scaling.md).
ALTER TABLE emails SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02
);
ALTER TABLE outbox_events SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02
);
ALTER TABLE webhook_deliveries SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000
);
