-- The agencies adapters have announced. Courts may address only these, and only for the
-- measures they carry out.
CREATE TABLE agencies (
    kind       text NOT NULL,
    code       text NOT NULL,
    measures   text[] NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (kind, code)
);

-- One row per agency an inquiry was sent to; `pending` until it answers.
CREATE TABLE inquiry_answers (
    measure_id     uuid NOT NULL REFERENCES measures (id),
    agency_code    text NOT NULL,
    state          text NOT NULL CHECK (state IN ('pending', 'answered', 'refused')),
    -- The encoded InquiryAnswerEvent once answered.
    answer         bytea,
    answered_at    timestamptz,
    PRIMARY KEY (measure_id, agency_code)
);

CREATE INDEX inquiry_answers_in_order ON inquiry_answers (measure_id, answered_at)
    WHERE state <> 'pending';

-- Inquiry progress, kept on the measure so every read of it is one row.
ALTER TABLE measures
    ADD COLUMN inquiry_addressed     integer NOT NULL DEFAULT 0,
    ADD COLUMN inquiry_answered      integer NOT NULL DEFAULT 0,
    ADD COLUMN inquiry_found         integer NOT NULL DEFAULT 0,
    ADD COLUMN inquiry_found_nothing integer NOT NULL DEFAULT 0,
    ADD COLUMN inquiry_refused       integer NOT NULL DEFAULT 0,
    ADD COLUMN inquiry_unanswered    integer NOT NULL DEFAULT 0,
    -- The smallest expiry-warning horizon (in days) already sent for the current expiry.
    ADD COLUMN warned_within_days    integer;

CREATE INDEX measures_in_force_by_expiry ON measures (expires_at)
    WHERE state IN ('effective', 'partial') AND expires_at IS NOT NULL;
CREATE INDEX measures_open_inquiries ON measures (deadline)
    WHERE kind = 'inquiry' AND state IN ('submitted', 'dispatched');

-- For answer events: the InquiryAnswerEvent.
ALTER TABLE measure_events ADD COLUMN detail bytea;
