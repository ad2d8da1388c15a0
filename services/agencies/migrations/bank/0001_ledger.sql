-- The reference bank's ledger: accounts, the court freezes on them, and what each instruction
-- was answered (so a repeated instruction is answered the same, never executed twice).
-- One schema may hold several banks (a processing centre serving many small banks): every row
-- carries its bank's code.

CREATE TABLE accounts (
    bank_code      text NOT NULL,
    account_number text NOT NULL,
    holder_name    text NOT NULL,
    -- Resident identity number or unified social credit code.
    holder_id      text NOT NULL,
    balance_fen    bigint NOT NULL CHECK (balance_fen >= 0),
    closed         boolean NOT NULL DEFAULT false,
    opened_at      timestamptz NOT NULL,
    PRIMARY KEY (bank_code, account_number)
);

CREATE INDEX accounts_by_holder ON accounts (bank_code, holder_id);

CREATE TABLE freezes (
    measure_id          uuid PRIMARY KEY,
    instruction_id      uuid NOT NULL UNIQUE,
    -- Order of receipt: waiting freezes rank by it (查扣冻规定 art. 26).
    seq                 bigint NOT NULL UNIQUE,
    bank_code           text NOT NULL,
    account_number      text NOT NULL,
    court_code          text NOT NULL,
    case_number         text NOT NULL,
    state               text NOT NULL
        CHECK (state IN ('effective', 'partial', 'waiting', 'released', 'lapsed', 'deducted')),
    amount_fen          bigint NOT NULL CHECK (amount_fen >= 0),
    frozen_fen          bigint NOT NULL DEFAULT 0 CHECK (frozen_fen >= 0 AND frozen_fen <= amount_fen),
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
    FOREIGN KEY (bank_code, account_number) REFERENCES accounts (bank_code, account_number)
);

CREATE SEQUENCE freeze_seq;
CREATE INDEX freezes_by_account ON freezes (bank_code, account_number, seq);
CREATE INDEX freezes_in_force_by_expiry ON freezes (expires_at) WHERE state IN ('effective', 'partial');

CREATE TABLE deductions (
    measure_id        uuid PRIMARY KEY,
    bank_code         text NOT NULL,
    account_number    text NOT NULL,
    court_code        text NOT NULL,
    amount_fen        bigint NOT NULL,
    deducted_fen      bigint NOT NULL,
    from_freeze       uuid REFERENCES freezes (measure_id),
    receiving_bank    text NOT NULL,
    receiving_account text NOT NULL,
    receiving_name    text NOT NULL,
    executed_at       timestamptz NOT NULL,
    FOREIGN KEY (bank_code, account_number) REFERENCES accounts (bank_code, account_number)
);

-- An inquiry addressed to every bank is one instruction; each bank answers it once.
CREATE TABLE executions (
    bank_code      text NOT NULL,
    instruction_id uuid NOT NULL,
    measure_id     uuid NOT NULL,
    action         text NOT NULL,
    -- The encoded ExecuteResponse, returned as is to a repeated instruction.
    response       bytea NOT NULL,
    executed_at    timestamptz NOT NULL,
    PRIMARY KEY (bank_code, instruction_id)
);

-- Notices for the hub, deleted once the adapter's inbox has taken them.
CREATE TABLE notices (
    id         uuid PRIMARY KEY,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL,
    -- Set when the inbox refused the notice for good (not an outage): kept for an operator,
    -- no longer sent.
    failed_at  timestamptz,
    failure    text
);
