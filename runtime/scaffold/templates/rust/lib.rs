//! `{{name}}`: a Sluice connector. `items` yields `count` records in pages of `page_size`;
//! replace it with your resources (see the README for HTTP, state and incremental loading).

use sluice_sdk::serde_json::{Value, json};
use sluice_sdk::{Error, ErrorKind, Open, Page, Resource, ResourceSpec, Source, SourceSpec, error};

struct Connector;

/// The configuration (`[config]` in the pipeline file), checked before anything runs.
struct Config {
    greeting: String,
    count: u64,
    page_size: u64,
}

impl Config {
    fn from(config: &Value) -> Result<Config, Error> {
        let text = |key: &str, default: &str| match &config[key] {
            Value::Null => Ok(default.to_owned()),
            Value::String(s) => Ok(s.clone()),
            other => Err(error(
                ErrorKind::Config,
                format!("config key `{key}` must be a string, got {other}"),
            )),
        };
        let number = |key: &str, default: u64| match &config[key] {
            Value::Null => Ok(default),
            v => v.as_u64().ok_or_else(|| {
                error(
                    ErrorKind::Config,
                    format!("config key `{key}` must be a whole number, got {v}"),
                )
            }),
        };
        let known = ["greeting", "count", "page_size"];
        if let Some(k) = config
            .as_object()
            .and_then(|map| map.keys().find(|k| !known.contains(&k.as_str())))
        {
            return Err(error(
                ErrorKind::Config,
                format!("unknown config key `{k}`"),
            ));
        }
        Ok(Config {
            greeting: text("greeting", "hello")?,
            count: number("count", 10)?,
            page_size: number("page_size", 100)?.max(1),
        })
    }
}

impl Source for Connector {
    fn spec(config: &Value) -> Result<SourceSpec, Error> {
        Config::from(config)?;
        let mut items = ResourceSpec::new("items");
        items.primary_key = vec!["id".into()];
        let mut spec = SourceSpec::new("{{name}}", "0.1.0").resource(items);
        spec.config_schema = json!({
            "type": "object",
            "properties": {
                "greeting": {"type": "string", "default": "hello"},
                "count": {"type": "integer", "default": 10},
                "page_size": {"type": "integer", "default": 100}
            },
            "additionalProperties": false
        })
        .to_string();
        Ok(spec)
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        let config = Config::from(&open.config)?;
        match open.resource.as_str() {
            "items" => Ok(Box::new(Items { config, next: 0 })),
            other => Err(error(
                ErrorKind::Config,
                format!("unknown resource `{other}`"),
            )),
        }
    }
}

/// The `items` resource: one page per call, so memory stays flat however many there are.
struct Items {
    config: Config,
    next: u64,
}

impl Resource for Items {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        if self.next >= self.config.count {
            return Ok(None);
        }
        let end = (self.next + self.config.page_size).min(self.config.count);
        let records: Vec<Value> = (self.next..end)
            .map(|id| json!({"id": id, "message": format!("{} #{id}", self.config.greeting)}))
            .collect();
        self.next = end;
        // the state committed with this page, in the same transaction as its rows
        Ok(Some(
            Page::json(&Value::Array(records)).with_checkpoint(&json!({"emitted": end})),
        ))
    }
}

sluice_sdk::export!(Connector);
