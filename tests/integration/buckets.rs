//! Buckets through the host: the `files` connector reads keys of a `[grants.buckets.NAME]`
//! grant on a real S3-compatible server (moto, signatures checked) through the host's
//! `objects` interface. The same files load the same table from a bucket as from a folder;
//! keys outside the grant's prefix, grants the pipeline does not have and wrong credentials
//! are refused with errors naming the grant and never the secret; incremental by
//! modification time works on objects; a `file://` grant reads a folder the same way, an
//! `az://` grant an Azure Blob Storage container (Azurite, Shared Key signatures checked) and
//! a `gs://` grant a Google Cloud Storage bucket (fake-gcs-server, which checks no
//! credentials).

use std::path::Path;

use crate::s3_server::S3Server;
use crate::support::{Area, canon, manifest_dir};

const FILES: (&str, &[u8]) = ("files", sluice_bundled::FILES.bytes);

/// A pipeline reading `paths` of grant `raw` (`s3://raw/exports` on `s3`) with `secret` as
/// the secret access key.
fn pipeline(s3: &S3Server, paths: &str, secret: &str, config: &str) -> String {
    format!(
        "name = \"bk\"\ndataset = \"ds\"\n[connector]\nname = \"files\"\n\
         [config]\nbucket = \"raw\"\npaths = [{paths}]\ntable = \"t\"\n{config}\n\
         [secrets.key_id]\nvalue = \"{}\"\n[secrets.key]\nvalue = \"{secret}\"\n\
         [grants.buckets.raw]\nurl = \"s3://raw/exports\"\nendpoint = \"{}\"\n\
         access_key_id = \"key_id\"\nsecret_access_key = \"key\"\n",
        s3.access_key_id, s3.endpoint
    )
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(manifest_dir().join("conformance").join(rel)).expect("fixture")
}

/// The conformance fixtures `files` loaded from a folder into table `t`, as the bucket tests
/// load them from a bucket.
fn from_folder(files: &[&str]) -> Area {
    let disk = Area::new();
    let dir = disk.path().join("data");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let listed: Vec<String> = files
        .iter()
        .map(|f| {
            let to = dir.join(Path::new(f).file_name().expect("name"));
            std::fs::write(&to, fixture(f)).expect("copy");
            format!("{:?}", to.display().to_string())
        })
        .collect();
    let toml = format!(
        "name = \"bk\"\ndataset = \"ds\"\n[connector]\nname = \"files\"\n[config]\n\
         paths = [{}]\ntable = \"t\"\n[grants]\nallow_read = [{:?}]\n",
        listed.join(", "),
        dir.display().to_string()
    );
    disk.run(&toml, FILES).expect("disk run");
    disk
}

/// The CSV and Parquet fixtures under `exports/2024/…`, and one object outside the prefix.
fn seeded(area: &Area) -> S3Server {
    let mut s3 = S3Server::start();
    s3.bucket("raw");
    let tmp = area.path();
    s3.put(
        tmp,
        "raw",
        "exports/2024/01/people.csv",
        &fixture("csv/people.csv"),
    );
    s3.put(
        tmp,
        "raw",
        "exports/2024/02/amounts.csv",
        &fixture("csv/amounts_semicolon.csv"),
    );
    s3.put(
        tmp,
        "raw",
        "exports/2024/typed.parquet",
        &fixture("parquet/typed_snappy.parquet"),
    );
    s3.put(tmp, "raw", "private/salaries.csv", b"name,salary\nx,1\n");
    s3
}

#[test]
fn a_bucket_loads_what_the_same_files_load_from_a_folder() {
    let area = Area::new();
    let s3 = seeded(&area);
    for (paths, table_files) in [
        ("\"2024/01/people.csv\"", vec!["csv/people.csv"]),
        (
            "\"2024/typed.parquet\"",
            vec!["parquet/typed_snappy.parquet"],
        ),
        (
            "\"2024/**/*.csv\"",
            vec!["csv/people.csv", "csv/amounts_semicolon.csv"],
        ),
    ] {
        let bucket = Area::new();
        let s = bucket
            .run(&pipeline(&s3, paths, &s3.secret_access_key, ""), FILES)
            .unwrap_or_else(|e| panic!("{paths}: {e}"));
        assert!(s.tables["t"] > 0, "{paths}: {s:?}");
        let disk = from_folder(&table_files);
        assert_eq!(
            canon(&bucket.conn(), "ds"),
            canon(&disk.conn(), "ds"),
            "{paths}: the bucket's table differs from the folder's"
        );
    }
}

#[test]
fn file_columns_name_keys_below_the_pattern_and_increments_read_new_objects_only() {
    let area = Area::new();
    let mut s3 = seeded(&area);
    let toml = pipeline(
        &s3,
        "\"2024/**/*.csv\"",
        &s3.secret_access_key,
        "incremental = \"modified\"\nfile_columns = true",
    );
    let first = area.run(&toml, FILES).expect("first run");
    let conn = area.conn();
    let names: Vec<String> = conn
        .prepare("SELECT DISTINCT file_name FROM ds.t ORDER BY 1")
        .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
        .expect("file names");
    assert_eq!(names, ["01/people.csv", "02/amounts.csv"]);
    drop(conn);
    s3.put(
        area.path(),
        "raw",
        "exports/2024/03/more.csv",
        b"id,v\n1,new\n",
    );
    let second = area.run(&toml, FILES).expect("second run");
    assert_eq!(
        second.tables.get("t"),
        Some(&1),
        "{second:?} after {first:?}"
    );
    let third = area.run(&toml, FILES).expect("third run");
    assert_eq!(third.tables.get("t"), None, "nothing new: {third:?}");
}

#[test]
fn nothing_outside_the_grant_is_reachable() {
    let area = Area::new();
    let s3 = seeded(&area);
    for (paths, config, want) in [
        ("\"../private/salaries.csv\"", "", "`..` segment"),
        ("\"/private/salaries.csv\"", "", "absolute"),
        (
            "\"2024/01/people.csv\"",
            "bucket = \"private\"\n",
            "no bucket grant `private`",
        ),
    ] {
        let mut toml = pipeline(&s3, paths, &s3.secret_access_key, "");
        if !config.is_empty() {
            toml = toml.replace("bucket = \"raw\"\n", config);
        }
        let e = area.run(&toml, FILES).expect_err(paths).to_string();
        assert!(e.contains(want) && e.contains("bucket"), "{paths}: {e}");
        assert!(!e.contains(&s3.endpoint) && !e.contains("exports"), "{e}");
    }
    // the connector lists only below the prefix: a glob over everything finds no private key
    let toml = pipeline(
        &s3,
        "\"**/*.csv\"",
        &s3.secret_access_key,
        "file_columns = true",
    );
    area.run(&toml, FILES).expect("run");
    let n = area.count("SELECT count(*) FROM ds.t WHERE file_name LIKE '%salaries%'");
    assert_eq!(n, 0);
}

/// The error of a run the store refuses: it names grant `raw`, says the credentials were
/// refused, and shows none of `secrets`.
fn refused(area: &Area, toml: &str, secrets: &[&str]) -> String {
    let e = area.run(toml, FILES).expect_err("refused").to_string();
    assert!(
        e.contains("bucket `raw`") && e.contains("refused the credentials"),
        "{e}"
    );
    assert!(secrets.iter().all(|s| !e.contains(s)), "{e}");
    e
}

#[test]
fn wrong_credentials_fail_naming_the_grant_and_never_the_secret() {
    let area = Area::new();
    let s3 = seeded(&area);
    let wrong = "wrong-secret-0123456789abcdef";
    let e = refused(
        &area,
        &pipeline(&s3, "\"2024/01/people.csv\"", wrong, ""),
        &[wrong, &s3.secret_access_key],
    );
    assert!(
        e.contains("(403 Forbidden)") || e.contains("(SignatureDoesNotMatch)"),
        "{e}"
    );
    assert!(
        !area.db().exists()
            || area.count("SELECT count(*) FROM information_schema.tables WHERE table_name = 't'")
                == 0
    );
    // a grant whose secret names another host is refused before anything runs
    let toml = pipeline(&s3, "\"2024/01/people.csv\"", wrong, "").replace(
        "[secrets.key]\n",
        "[secrets.key]\nhost = \"https://example.com\"\nheader = \"X-Key\"\n",
    );
    let e = area.run(&toml, FILES).expect_err("host secret").to_string();
    assert!(e.contains("must not be sendable over HTTP"), "{e}");
}

#[test]
fn a_file_grant_reads_a_folder_through_the_same_interface() {
    let area = Area::new();
    let dir = area.path().join("srv");
    std::fs::create_dir_all(dir.join("2024")).expect("mkdir");
    std::fs::write(dir.join("2024/people.csv"), fixture("csv/people.csv")).expect("write");
    std::fs::write(area.path().join("outside.csv"), b"a\n1\n").expect("write");
    let toml = format!(
        "name = \"bk\"\ndataset = \"ds\"\n[connector]\nname = \"files\"\n[config]\n\
         bucket = \"disk\"\npaths = [\"**/*.csv\"]\ntable = \"t\"\n\
         [grants.buckets.disk]\nurl = \"file://{}\"\n",
        dir.display()
    );
    let s = area.run(&toml, FILES).expect("run");
    assert!(s.tables["t"] > 0);
    let e = area
        .run(&toml.replace("**/*.csv", "../outside.csv"), FILES)
        .expect_err("outside")
        .to_string();
    assert!(e.contains("`..` segment"), "{e}");
}

#[test]
fn an_azure_container_loads_what_a_folder_loads() {
    let area = Area::new();
    let mut az = S3Server::azurite();
    az.bucket("raw");
    az.put(
        area.path(),
        "raw",
        "exports/2024/01/people.csv",
        &fixture("csv/people.csv"),
    );
    az.put(
        area.path(),
        "raw",
        "exports/2024/typed.parquet",
        &fixture("parquet/typed_snappy.parquet"),
    );
    az.put(
        area.path(),
        "raw",
        "private/salaries.csv",
        b"name,salary\nx,1\n",
    );
    let pipeline = |paths: &str, key: &str| {
        format!(
            "name = \"bk\"\ndataset = \"ds\"\n[connector]\nname = \"files\"\n\
             [config]\nbucket = \"raw\"\npaths = [{paths}]\ntable = \"t\"\n\
             [secrets.key]\nvalue = \"{key}\"\n\
             [grants.buckets.raw]\nurl = \"az://raw/exports\"\nendpoint = \"{}\"\n\
             account = \"{}\"\naccess_key = \"key\"\n",
            az.endpoint, az.access_key_id
        )
    };
    for (paths, files) in [
        ("\"2024/**/*.csv\"", vec!["csv/people.csv"]),
        (
            "\"2024/typed.parquet\"",
            vec!["parquet/typed_snappy.parquet"],
        ),
    ] {
        let blob = Area::new();
        blob.run(&pipeline(paths, &az.secret_access_key), FILES)
            .unwrap_or_else(|e| panic!("{paths}: {e}"));
        let disk = from_folder(&files);
        assert_eq!(
            canon(&blob.conn(), "ds"),
            canon(&disk.conn(), "ds"),
            "{paths}"
        );
    }
    let e = area
        .run(
            &pipeline("\"../private/salaries.csv\"", &az.secret_access_key),
            FILES,
        )
        .expect_err("outside")
        .to_string();
    assert!(e.contains("`..` segment"), "{e}");
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=";
    refused(
        &area,
        &pipeline("\"2024/01/people.csv\"", wrong),
        &[wrong, &az.secret_access_key],
    );
}

#[test]
fn a_gcs_bucket_loads_what_a_folder_loads() {
    let area = Area::new();
    let mut gcs = S3Server::gcs();
    gcs.bucket("raw");
    for (key, file) in [
        ("exports/2024/01/people.csv", "csv/people.csv"),
        ("exports/2024/02/amounts.csv", "csv/amounts_semicolon.csv"),
        ("exports/2024/typed.parquet", "parquet/typed_snappy.parquet"),
    ] {
        gcs.put(area.path(), "raw", key, &fixture(file));
    }
    gcs.put(
        area.path(),
        "raw",
        "private/salaries.csv",
        b"name,salary\nx,1\n",
    );
    // an emulator's key: it turns signing off and carries identifying values that must never
    // show in an error
    let key = r#"{"type": "service_account", "disable_oauth": true, "private_key": "",
        "private_key_id": "kid-123456", "client_email": "loader@proj.iam.gserviceaccount.com"}"#;
    let pipeline = |paths: &str, url: &str, how: &str| {
        format!(
            "name = \"bk\"\ndataset = \"ds\"\n[connector]\nname = \"files\"\n\
             [config]\nbucket = \"raw\"\npaths = [{paths}]\ntable = \"t\"\n\
             [secrets.gcs_key]\nvalue = '''{key}'''\n\
             [grants.buckets.raw]\nurl = \"{url}\"\nendpoint = \"{}\"\n{how}\n",
            gcs.endpoint
        )
    };
    let anonymous = "anonymous = true";
    let keyed = "service_account_key = \"gcs_key\"";
    for (paths, how, files) in [
        (
            "\"2024/**/*.csv\"",
            anonymous,
            vec!["csv/people.csv", "csv/amounts_semicolon.csv"],
        ),
        (
            "\"2024/typed.parquet\"",
            keyed,
            vec!["parquet/typed_snappy.parquet"],
        ),
    ] {
        let bucket = Area::new();
        bucket
            .run(&pipeline(paths, "gs://raw/exports", how), FILES)
            .unwrap_or_else(|e| panic!("{paths}: {e}"));
        let disk = from_folder(&files);
        assert_eq!(
            canon(&bucket.conn(), "ds"),
            canon(&disk.conn(), "ds"),
            "{paths}: the bucket's table differs from the folder's"
        );
    }
    let e = area
        .run(
            &pipeline("\"../private/salaries.csv\"", "gs://raw/exports", anonymous),
            FILES,
        )
        .expect_err("outside")
        .to_string();
    assert!(e.contains("`..` segment"), "{e}");
    let missing = area
        .run(
            &pipeline("\"*.csv\"", "gs://no-such-bucket/exports", keyed),
            FILES,
        )
        .expect_err("no bucket")
        .to_string();
    assert!(
        missing.contains("bucket `raw`"),
        "names the grant: {missing}"
    );
    for hidden in ["no-such-bucket", &gcs.endpoint, "kid-123456", "loader@proj"] {
        assert!(!missing.contains(hidden), "{hidden} shown: {missing}");
    }
}
