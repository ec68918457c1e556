-- One MariaDB table with every type the sql_database connector maps, and a row of NULLs.
-- Loaded by scripts/differential/sql_fixtures.py (dlt's output, pymysql driver) and
-- tests/integration/sql_sources.rs. The server runs with time zone UTC. `unsigned_ints` apart,
-- since dlt cannot load an unsigned bigint above 2^63 - 1.
CREATE TABLE every_type (
    id int PRIMARY KEY,
    i8 tinyint,
    i16 smallint,
    i24 mediumint,
    i32 int,
    i64 bigint,
    num decimal(12, 2),
    big decimal(38, 0),
    frac decimal(20, 10),
    f32 float,
    f64 double,
    flag boolean,
    txt text,
    vc varchar(20),
    ch char(5),
    d date,
    t time(6),
    dt datetime(6),
    ts timestamp(6) NULL DEFAULT NULL,
    yr year,
    j json,
    u uuid,
    bin varbinary(16),
    blb blob,
    m enum('sad', 'ok', 'happy'),
    s set('a', 'b', 'c')
);
INSERT INTO every_type VALUES
    (1, -128, -32768, -8388608, -2147483648, -9223372036854775808,
     -1234567890.12, 12345678901234567890123456789012345678, 0.0000000001, 1.5, 2.25, true,
     'héllo "quoted", comma', 'varchar', 'ab', '2024-02-29', '13:45:59.123456',
     '2024-02-29 13:45:59.123456', '2024-02-29 13:45:59.123456', 2024,
     '{"a": [1, 2, {"b": null}]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', x'00ff10', x'0102',
     'happy', 'a,c'),
    (2, 127, 32767, 8388607, 2147483647, 9223372036854775807,
     0.5, -99999999999999999999999999999999999999, 1234567890.0123456789, -0.0, 1e300, false,
     '', 'x', 'abcde', '1970-01-01', '00:00:00', '1970-01-01 00:00:00', '1999-12-31 23:59:59',
     1901, '[]', '00000000-0000-0000-0000-000000000000', x'', x'', 'sad', ''),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE unsigned_ints (id int PRIMARY KEY, u64 bigint unsigned);
INSERT INTO unsigned_ints VALUES (1, 18446744073709551615), (2, 0), (3, NULL);
