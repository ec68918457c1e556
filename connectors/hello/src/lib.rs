//! Hello world: the smallest useful connector — one resource, one page of greetings.

use sluice_sdk::serde_json::json;
use sluice_sdk::{Error, Open, Page, Pages, Resource, ResourceSpec, Source, SourceSpec};

struct Hello;

impl Source for Hello {
    fn spec(_config: &sluice_sdk::serde_json::Value) -> Result<SourceSpec, Error> {
        Ok(SourceSpec::new("hello", "0.1.0").resource(ResourceSpec::new("greetings")))
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        let name = open.config["name"].as_str().unwrap_or("world").to_owned();
        let page = Page::json(&json!([
            {"id": 1, "greeting": format!("hello, {name}")},
            {"id": 2, "greeting": format!("goodbye, {name}")},
        ]));
        Ok(Box::new(Pages::from(vec![page])))
    }
}

sluice_sdk::export!(Hello);
