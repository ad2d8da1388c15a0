//! `hubctl dlq …`: the dead letters the hub could not process, for operators: listed with why
//! each is there, inspected with the payload decoded, replayed to where they were going, or
//! discarded for good after confirmation.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;

use crate::{Context, cli::parse, error::Failure, format, json};

/// `hubctl dlq …`: the gateway's dead-letter operations.
#[derive(Subcommand, Debug, Clone)]
pub enum DlqCommand {
    /// Lists the dead letters waiting, oldest first, with why each is there, and how many wait.
    List {
        /// At most this many, oldest first.
        #[arg(
            long,
            value_name = "N",
            default_value_t = 100,
            value_parser = clap::value_parser!(u32).range(1..=1_000)
        )]
        limit: u32,
    },
    /// Shows one dead letter in full, with its payload decoded.
    Inspect {
        /// The dead letter's message id (the instruction or report id), as `dlq list` shows it.
        #[arg(value_name = "MESSAGE_ID", value_parser = parse::message_id)]
        message_id: String,
    },
    /// Sends a dead letter again to where it was going, then removes it from the queue.
    ///
    /// Agencies answer an instruction they carried out already instead of carrying it out again.
    Replay {
        /// The dead letter's message id.
        #[arg(value_name = "MESSAGE_ID", value_parser = parse::message_id)]
        message_id: String,
    },
    /// Removes a dead letter for good, after asking for confirmation on a terminal.
    Discard {
        /// The dead letter's message id.
        #[arg(value_name = "MESSAGE_ID", value_parser = parse::message_id)]
        message_id: String,
        /// Discard without asking; required when stdin is not a terminal (scripts).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// Runs one `dlq` subcommand.
pub async fn run(context: &Context, command: DlqCommand) -> Result<(), Failure> {
    match command {
        DlqCommand::List { limit } => list(context, limit).await,
        DlqCommand::Inspect { message_id } => inspect(context, &message_id).await,
        DlqCommand::Replay { message_id } => replay(context, &message_id).await,
        DlqCommand::Discard { message_id, yes } => discard(context, &message_id, yes).await,
    }
}

/// The oldest dead letters as a table under a count, or one JSON object each and the count.
async fn list(context: &Context, limit: u32) -> Result<(), Failure> {
    let out = context.out;
    let listed = context.ops().await?.list(limit).await?;
    let letters = &listed.dead_letters;
    for letter in letters {
        out.json(&json::dead_letter(letter));
    }
    out.json(&json::dead_letters_waiting(listed.total, letters.len()));
    out.text(format::dlq::waiting(listed.total, letters.len()));
    if !letters.is_empty() {
        out.text(format::dlq::letter_table(letters));
        out.text(
            "inspect one with `hubctl dlq inspect <MESSAGE>`, send it again with `hubctl dlq \
             replay <MESSAGE>`, drop it with `hubctl dlq discard <MESSAGE>`",
        );
    }
    Ok(())
}

/// One dead letter in full, with the gateway's summary of its payload.
async fn inspect(context: &Context, message_id: &str) -> Result<(), Failure> {
    let letter = context.ops().await?.inspect(message_id).await?;
    context.out.json(&json::dead_letter(&letter));
    context.out.text(format::dlq::letter(&letter));
    Ok(())
}

/// Sends the dead letter again and says what went where.
async fn replay(context: &Context, message_id: &str) -> Result<(), Failure> {
    let letter = context.ops().await?.replay(message_id).await?;
    context
        .out
        .json(&json::dead_letter_action("replayed", &letter));
    context.out.text(format::dlq::replayed(&letter));
    if format::dlq::is_instruction(&letter)
        && let Some(follow) = format::dlq::follow(&letter)
    {
        context
            .out
            .text(format!("follow the measure with `{follow}`"));
    }
    Ok(())
}

/// Discards the dead letter: at once with `--yes`, else after the operator has seen it and said
/// yes on the terminal. Without `--yes` and without a terminal to ask on, refuses before
/// contacting the hub.
async fn discard(context: &Context, message_id: &str, yes: bool) -> Result<(), Failure> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "refusing to discard dead letter {message_id} without confirmation: stdin is not a \
             terminal to ask on; pass --yes to discard it"
        )));
    }
    let mut ops = context.ops().await?;
    if !yes {
        let letter = ops.inspect(message_id).await?;
        context.out.note(format::dlq::letter(&letter));
        let question = format!(
            "Discard {} for good? It will not be carried out. [y/N] ",
            format::dlq::describe(&letter)
        );
        if !confirm(question).await? {
            context.out.json(&json::dead_letter_action("kept", &letter));
            context.out.note(format!(
                "not confirmed: dead letter {message_id} is kept, nothing was discarded"
            ));
            return Ok(());
        }
    }
    let letter = ops.discard(message_id).await?;
    context
        .out
        .json(&json::dead_letter_action("discarded", &letter));
    context.out.text(format::dlq::discarded(&letter));
    Ok(())
}

/// Asks `question` on stderr and reads the answer from stdin: `y` or `yes` (any case) is yes;
/// anything else, or end of input, is no.
async fn confirm(question: String) -> Result<bool, Failure> {
    let answer = tokio::task::spawn_blocking(move || {
        let mut stderr = std::io::stderr().lock();
        // A prompt that cannot be shown still gets its answer read; the letter was shown above.
        let _ = write!(stderr, "{question}").and_then(|()| stderr.flush());
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| Failure::Unexpected(format!("asking for confirmation failed: {e}")))?
    .map_err(|e| Failure::Unexpected(format!("reading the answer failed: {e}")))?;
    Ok(is_yes(&answer))
}

/// Whether an answer to a confirmation is yes.
fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_or_yes_confirms() {
        assert!(is_yes("y\n"));
        assert!(is_yes(" YES \n"));
        assert!(!is_yes(""));
        assert!(!is_yes("n\n"));
        assert!(!is_yes("yep\n"));
    }
}
