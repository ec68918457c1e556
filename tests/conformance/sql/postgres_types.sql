-- One table with every type the sql_database connector maps, and rows with NULLs
-- everywhere; `intervals` apart, since dlt cannot load intervals. Loaded by
-- scripts/differential/sql_fixtures.py (dlt's output) and tests/integration/sql_sources.rs.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE every_type (
    id integer PRIMARY KEY,
    i16 smallint,
    i32 integer,
    i64 bigint,
    num numeric(12, 2),
    big numeric(38, 0),
    frac numeric(20, 10),
    f32 real,
    f64 double precision,
    flag boolean,
    txt text,
    vc varchar(20),
    ch char(5),
    d date,
    t time,
    ts timestamp,
    tstz timestamptz,
    u uuid,
    j json,
    jb jsonb,
    arr integer[],
    tags text[],
    bin bytea,
    m mood
);
INSERT INTO every_type VALUES
    (1, -32768, -2147483648, -9223372036854775808, -1234567890.12,
     12345678901234567890123456789012345678, 0.0000000001, 1.5, 2.25, true,
     'héllo "quoted", comma', 'varchar', 'ab', '2024-02-29', '13:45:59.123456',
     '2024-02-29 13:45:59.123456', '2024-02-29 13:45:59.123456+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
     '{"a": [1, 2, {"b": null}]}', '{"z": 1, "a": "x"}', '{1,2,3}', '{"x","y z"}', '\x00ff10',
     'happy'),
    (2, 32767, 2147483647, 9223372036854775807, 0.5,
     -99999999999999999999999999999999999999, 1234567890.0123456789, -0.0, 1e300, false,
     '', 'x', 'abcde', '1970-01-01', '00:00:00', '1970-01-01 00:00:00', '1999-12-31 23:59:59+00',
     '00000000-0000-0000-0000-000000000000', '[]', '[1, "two"]', '{}', '{}', '\x', 'sad'),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE intervals (id integer PRIMARY KEY, iv interval);
INSERT INTO intervals VALUES (1, '1 year 2 months 3 days 04:05:06.5'), (2, '-1 day'), (3, NULL);
