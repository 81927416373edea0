//! `iotstream group`: a scale-out group as its merge log tells it.

use std::io::{self, Write as _};

use crate::cli::kafka::GroupArgs;
use crate::plan;

/// `iotstream group`: reads the group's merge log to its end and prints what it says.
pub fn group(args: &GroupArgs) -> anyhow::Result<()> {
    let connection = args.kafka.connect()?;
    connection.probe(&crate::signals::Stop::default())?;
    let topic = args.kafka.topic()?;
    let operator = plan::operator_config(&args.windows).map_err(anyhow::Error::msg)?;
    let iotstream_engine::OperatorConfig::Windows { config, .. } = operator else {
        anyhow::bail!(
            "a scale-out group runs in event time: give --time event and the instances' window flags"
        );
    };
    let plan = crate::scaleout::Group::describe(&connection, topic, &args.group, config)?;
    let view = crate::scaleout::follower::read_to_end(plan.follower(&connection))?;
    let text = match args.format {
        crate::cli::kafka::GroupFormat::Json => serde_json::to_string_pretty(&view)? + "\n",
        crate::cli::kafka::GroupFormat::Text => view.to_text(&args.group, topic),
    };
    io::stdout().write_all(text.as_bytes())?;
    Ok(())
}
