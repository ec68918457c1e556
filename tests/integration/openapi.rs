//! `sluice init pipeline --openapi`: every real specification in `../shared/openapi/`
//! generates a file that Sluice plans (offline), and generated pipelines run end to end
//! against loopback APIs built from their documents' own schemas (`openapi_mock.rs`):
//! PokéAPI (lists paged by `next` links, a detail resource per record) and Marvel (records
//! one level down at `data.results`, offset paging with the total at `data.total`).

use std::path::PathBuf;

use sluice_openapi::{Generated, Options};
use sluice_pipeline::{PipelineSpec, RunOptions};

use crate::openapi_mock;
use crate::support::{Area, manifest_dir};

const REST: (&str, &[u8]) = ("rest_api", sluice_bundled::REST_API.bytes);

fn specs_dir() -> PathBuf {
    let d = manifest_dir().join("../../shared/openapi");
    assert!(
        d.is_dir(),
        "specifications not found at `{}` (shared/ must sit beside the repository)",
        d.display()
    );
    d
}

fn generate(file: &str, base_url: Option<String>) -> Generated {
    let text = std::fs::read_to_string(specs_dir().join(file)).expect("spec");
    let name = file.split('.').next().unwrap_or("api").replace('-', "_");
    sluice_openapi::generate(
        &text,
        &Options {
            name,
            base_url,
            spec_url: None,
        },
    )
    .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The generated file parsed, each secret given a value (planning reads secrets; the test
/// has no credentials) and the destination in `area`.
fn parsed(area: &Area, g: &Generated) -> PipelineSpec {
    let mut spec = PipelineSpec::from_toml(&g.toml, &[], area.path())
        .unwrap_or_else(|e| panic!("{}: the file does not parse: {e}\n{}", g.name, g.toml));
    for s in spec.secrets.values_mut() {
        s.env = None;
        s.value = Some("test-credential".into());
    }
    spec.destination = format!("duckdb:{}", area.db().display());
    spec
}

/// `spec` with every generated resource but `keep` unselected.
fn only(mut spec: PipelineSpec, g: &Generated, keep: &[&str]) -> PipelineSpec {
    for r in g.resources.iter().filter(|r| r.unresolved.is_none()) {
        if !keep.contains(&r.name.as_str()) {
            spec.resources.entry(r.name.clone()).or_default().selected = Some(false);
        }
    }
    spec
}

#[test]
fn every_shared_specification_generates_a_file_that_plans() {
    let mut files: Vec<String> = std::fs::read_dir(specs_dir())
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".yml") || f.ends_with(".yaml") || f.ends_with(".json"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "{files:?}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for file in &files {
        let g = generate(file, None);
        let live = g
            .resources
            .iter()
            .filter(|r| r.unresolved.is_none())
            .count();
        assert!(live > 0, "{file}: no resource generated");
        let area = Area::new();
        let opts = RunOptions {
            spec: parsed(&area, &g),
            pipelines_dir: area.path().join("pipelines"),
            cache_dir: crate::support::shared_cache(),
            component: (REST.0.to_owned(), REST.1.to_vec()),
            schema_contract: None,
        };
        let plan = rt
            .block_on(sluice_pipeline::plan(&opts))
            .unwrap_or_else(|e| panic!("{file}: the generated file does not plan: {e:#}"));
        assert_eq!(plan.resources.len(), live, "{file}");
        // nothing is reachable but the document's own server
        assert_eq!(plan.allow_hosts, vec![g.origin.clone()], "{file}");
    }
}

#[test]
fn pokeapi_runs_end_to_end_against_its_own_schemas() {
    let doc = openapi_mock::load(&specs_dir().join("pokeapi.yml"));
    let server = openapi_mock::serve(doc, 5);
    let g = generate("pokeapi.yml", Some(format!("{}/", server.url())));
    let area = Area::new();
    // keep the run short: the berry and pokemon collections with their details
    let keep = ["berry_list", "berry_read", "pokemon_list", "pokemon_read"];
    let s = area
        .run_parsed(only(parsed(&area, &g), &g, &keep), REST)
        .expect("runs");
    for t in keep {
        assert_eq!(s.tables.get(t), Some(&5), "{t}: {:?}", s.tables);
    }
    // lists paged by `next` links in pages of two, a detail request per record
    let lists = server.to("/api/v2/pokemon/");
    assert_eq!(
        lists.len(),
        3,
        "{:?}",
        lists.iter().map(|r| r.target()).collect::<Vec<_>>()
    );
    for id in 1..=5 {
        assert_eq!(server.to(&format!("/api/v2/pokemon/{id}/")).len(), 1);
    }
    assert_eq!(
        area.count("select count(distinct id) from pokeapi.pokemon_read"),
        5
    );
}

#[test]
fn marvel_pages_by_offset_with_its_total_one_level_down() {
    let doc = openapi_mock::load(&specs_dir().join("marvel.yml"));
    let server = openapi_mock::serve(doc, 45);
    let g = generate("marvel.yml", Some(format!("{}/", server.url())));
    let area = Area::new();
    let keep = ["get_character_collection", "get_character_individual"];
    let s = area
        .run_parsed(only(parsed(&area, &g), &g, &keep), REST)
        .expect("runs");
    assert_eq!(s.tables.get("get_character_collection"), Some(&45));
    assert_eq!(s.tables.get("get_character_individual"), Some(&45));
    let offsets: Vec<String> = server
        .to("/v1/public/characters")
        .iter()
        .map(|r| r.param("offset").unwrap_or("-").to_owned())
        .collect();
    assert_eq!(offsets, vec!["0", "20", "40"]);
}

#[test]
fn a_malformed_specification_fails_with_its_pointer() {
    let cases = [
        ("openapi: 3.0.0\ninfo: {title: x}\n", "/paths"),
        ("openapi: 4.1.0\npaths: {}\n", "/openapi"),
        (
            "openapi: 3.0.0\nservers: [{url: 'https://a.example'}]\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/A'}\ncomponents:\n  schemas:\n    A: {$ref: '#/components/schemas/B'}\n    B: {$ref: '#/components/schemas/A'}\n",
            "/components/schemas/",
        ),
    ];
    for (text, pointer) in cases {
        let e = sluice_openapi::generate(
            text,
            &Options {
                name: "bad".into(),
                ..Options::default()
            },
        )
        .expect_err("refused");
        assert!(e.pointer.starts_with(pointer), "{pointer}: {e}");
    }
}
