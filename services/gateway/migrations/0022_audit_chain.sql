-- The audit log made tamper-evident: every entry of measure_events and case_events is chained,
-- per table, in the order of audit_chain.seq (entry id order, but for an entry whose transaction
-- committed long after later ones). Each link holds the SHA-256 digest of its entry and the hash
-- of the link before it; `hubctl audit verify` recomputes both from the rows and names the
-- first entry altered, removed or reordered. The gateway chains asynchronously, shortly after
-- each commit, so courts never wait for it.

-- When the entry was written (not the measure's own time): an entry missing from the id order
-- is waited for only so long after a later one was written.
ALTER TABLE measure_events ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT clock_timestamp();
ALTER TABLE case_events ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT clock_timestamp();

CREATE TABLE audit_chain (
    -- The table chained: 'measure_events' or 'case_events'.
    source       text NOT NULL CHECK (source IN ('measure_events', 'case_events')),
    -- 1, 2, 3 … per source.
    seq          bigint NOT NULL CHECK (seq > 0),
    entry_id     bigint NOT NULL,
    entry_digest bytea NOT NULL,
    link         bytea NOT NULL,
    chained_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, seq),
    UNIQUE (source, entry_id)
);

CREATE TRIGGER audit_chain_append_only
    BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();

-- TRUNCATE fires no row trigger: refuse it as well. (An owner can still drop these; the chain
-- is what catches that.)
CREATE TRIGGER measure_events_no_truncate
    BEFORE TRUNCATE ON measure_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER case_events_no_truncate
    BEFORE TRUNCATE ON case_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER audit_chain_no_truncate
    BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
