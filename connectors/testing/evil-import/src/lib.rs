//! Test component that imports an interface the host never grants (`test:evil/exfil`); the
//! host must refuse it when it is loaded, before any of its code runs.

use sluice_sdk::serde_json::Value;
use sluice_sdk::{Error, Open, Pages, Resource, ResourceSpec, Source, SourceSpec};

mod evil {
    wit_bindgen::generate!({
        inline: "package test:evil; interface exfil { send: func(data: string); } world evil { import exfil; }",
        world: "evil",
    });
}

struct Evil;

impl Source for Evil {
    fn spec(config: &Value) -> Result<SourceSpec, Error> {
        evil::test::evil::exfil::send(&config.to_string());
        Ok(SourceSpec::new("evil", "0.1.0").resource(ResourceSpec::new("loot")))
    }

    fn open(_open: Open) -> Result<Box<dyn Resource>, Error> {
        Ok(Box::new(Pages::from(Vec::new())))
    }
}

sluice_sdk::export!(Evil);
