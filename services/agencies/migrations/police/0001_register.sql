-- The reference public security system's registers: persons and where they were seen, vehicles,
-- the courts' distraints and exit restrictions (the shape shared with the land registry, see
-- src/holds.rs), what each instruction was answered, and notices for the hub.
--
-- Every table carries `agency_code`, the public security unit (e.g. BJ-PSB): one process and one
-- schema serve several units, and nothing of one unit is visible to another's instructions.

CREATE TABLE persons (
    agency_code text NOT NULL,
    resident_id text NOT NULL,
    name        text NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (agency_code, resident_id)
);

CREATE TABLE sightings (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_code text NOT NULL,
    resident_id text NOT NULL,
    place       text NOT NULL,
    seen_at     timestamptz NOT NULL,
    FOREIGN KEY (agency_code, resident_id) REFERENCES persons (agency_code, resident_id)
);

CREATE INDEX sightings_latest ON sightings (agency_code, resident_id, seen_at DESC);

CREATE TABLE vehicles (
    agency_code text NOT NULL,
    -- The VIN names the vehicle: plates are reissued, the VIN is stamped on the frame.
    vin         text NOT NULL,
    plate       text NOT NULL,
    -- Resident identity number or unified social credit code.
    holder_id   text NOT NULL,
    holder_name text NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (agency_code, vin),
    UNIQUE (agency_code, plate)
);

CREATE INDEX vehicles_by_holder ON vehicles (agency_code, holder_id);

-- Distraints (exclusive: later ones wait, 轮候) and exit restrictions (not exclusive: several
-- courts may each restrict one person) in one table, so that release, renewal and lapse are the
-- same code for both. `asset_id` is the VIN of a distrained vehicle or the resident identity
-- number of a restricted person, hence no foreign key.
CREATE TABLE holds (
    agency_code         text NOT NULL,
    measure_id          uuid PRIMARY KEY,
    instruction_id      uuid NOT NULL,
    -- Order of receipt: waiting distraints rank by it (查扣冻规定 art. 26).
    seq                 bigint NOT NULL UNIQUE,
    asset_id            text NOT NULL,
    court_code          text NOT NULL,
    case_number         text NOT NULL,
    subject_id          text NOT NULL,
    subject_name        text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('distraint', 'exit_restriction')),
    exclusive           boolean NOT NULL CHECK (exclusive = (kind = 'distraint')),
    -- Shared shape with the land registry; never true here.
    pre_seizure         boolean NOT NULL DEFAULT false CHECK (NOT pre_seizure),
    state               text NOT NULL CHECK (state IN ('effective', 'waiting', 'released', 'lapsed')),
    waiting_position    integer NOT NULL DEFAULT 0,
    period_months       integer NOT NULL,
    period_days         integer NOT NULL,
    registration_number text NOT NULL,
    -- Numbers every change reported to the hub.
    revision            bigint NOT NULL,
    received_at         timestamptz NOT NULL,
    effective_at        timestamptz,
    expires_at          timestamptz,
    ended_at            timestamptz,
    UNIQUE (agency_code, instruction_id)
);

CREATE SEQUENCE hold_seq;
CREATE INDEX holds_by_asset ON holds (agency_code, kind, asset_id, seq);
CREATE INDEX holds_in_force_by_expiry ON holds (expires_at) WHERE state = 'effective';
-- One distraint in force per vehicle; the rest wait.
CREATE UNIQUE INDEX one_exclusive_hold_in_force ON holds (agency_code, asset_id)
    WHERE state = 'effective' AND exclusive;

CREATE TABLE executions (
    agency_code    text NOT NULL,
    instruction_id uuid NOT NULL,
    measure_id     uuid NOT NULL,
    action         text NOT NULL,
    -- The encoded ExecuteResponse, returned as is to a repeated instruction.
    response       bytea NOT NULL,
    executed_at    timestamptz NOT NULL,
    PRIMARY KEY (agency_code, instruction_id)
);

-- Notices for the hub, deleted once the adapter's inbox has taken them (see src/notices.rs).
CREATE TABLE notices (
    id         uuid PRIMARY KEY,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL,
    -- Set when the inbox refused the notice for good (not an outage): kept for an operator,
    -- no longer sent.
    failed_at  timestamptz,
    failure    text
);
