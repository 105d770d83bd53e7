//! `wangge intake submit|callback`: an external work order (a 12345 工单)
//! into a running server, and the hotline's 回访 back.

use std::process::ExitCode;

use clap::Subcommand;
use wangge_proto::v1;

use crate::client::{finish, show, with_server, CliError, Show, Target};
use crate::input;
use crate::output::Table;

#[derive(Debug, clap::Args)]
pub struct IntakeArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    command: IntakeCommand,
}

#[derive(Debug, Subcommand)]
enum IntakeCommand {
    /// Take an order in: `intake submit 热线工单 @工单.json` (`-`: stdin).
    Submit {
        /// The policy's `intake` item.
        intake: String,
        /// The order: JSON text, `@FILE` or `-`.
        order: String,
    },
    /// The hotline's 回访: `intake callback 热线工单 '{"工单编号": "…", "回访结果": "满意"}'`.
    Callback {
        /// The policy's `intake` item.
        intake: String,
        /// The order's key and 回访 result: JSON text, `@FILE` or `-`.
        order: String,
    },
}

impl Show for v1::IntakeResponse {
    fn text(&self) {
        match (self.created, self.duplicate_of) {
            (_, 0) if !self.created => println!("already taken in"),
            (true, _) => println!("a new case"),
            (false, d) => println!("a duplicate of case {d}: linked, not opened again"),
        }
        if let Some(c) = &self.case {
            c.text();
        }
    }
    fn table(&self) -> Table {
        self.case
            .as_ref()
            .map_or_else(|| Table::new(&["case"]), Show::table)
    }
}

pub fn intake(args: &IntakeArgs) -> ExitCode {
    let out = args.target.output;
    with_server(&args.target, |ch| async move {
        let mut c = v1::intake_service_client::IntakeServiceClient::new(ch);
        let r: Result<(), CliError> = async {
            match &args.command {
                IntakeCommand::Submit { intake, order } => {
                    let req = v1::IntakeRequest {
                        intake: intake.clone(),
                        order_json: input::json_text(order, "order")?,
                        actor: String::new(),
                    };
                    show(out, &c.submit(req).await?.into_inner())
                }
                IntakeCommand::Callback { intake, order } => {
                    let req = v1::IntakeRequest {
                        intake: intake.clone(),
                        order_json: input::json_text(order, "order")?,
                        actor: String::new(),
                    };
                    show(out, &c.callback(req).await?.into_inner())
                }
            }
        }
        .await;
        finish(r)
    })
}
