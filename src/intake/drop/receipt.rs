//! What the drop source tells the rest of the daemon about each file: the hook for receipts.
//!
//! Every file that leaves an agency's folder produces exactly one [`DropReceipt`], handed to the
//! source's [`ReceiptSink`] after the file has reached its final place (and also returned by
//! [`super::DropSource::process_pending`]). The receipt email (SPEC §4.2: "Receipts go by email to
//! that agency's admins") is built from it by the mail side; the default sink does nothing.

use std::sync::Mutex;

use crate::intake::pipeline::Processed;

/// One file's fate.
#[derive(Debug, Clone)]
pub struct DropReceipt {
    pub agency_id: String,
    /// The recorded submission (`None` for a `check/` file, which records nothing).
    pub submission_id: Option<i64>,
    /// The name as uploaded (sanitised for display when it was refused).
    pub file_name: String,
    /// The campaign its folder gave (`<agency>/<campaign-id>/`).
    pub campaign: Option<String>,
    /// Uploaded to `check/`: validated only.
    pub check_only: bool,
    /// Where the input went, relative to the agency's folder (`processed/…` or `failed/…`).
    pub moved_to: String,
    /// The result files written, relative to the agency's folder.
    pub results: Vec<String>,
    pub outcome: DropOutcome,
}

#[derive(Debug, Clone)]
pub enum DropOutcome {
    /// Read and decided: per-row outcomes and the workbooks.
    Processed(Box<Processed>),
    /// The same bytes were already processed for this agency (an identical re-upload, or a file
    /// whose processing was interrupted after its commit): nothing changed. `processed` holds the
    /// outcomes as recorded then, rebuilt for the results workbook.
    AlreadyProcessed {
        submission_id: i64,
        processed: Option<Box<Processed>>,
    },
    /// The file could not be read as a spreadsheet, in plain words.
    Unreadable(String),
    /// Not taken at all (a link, a FIFO, a folder, a bad name…), in plain words.
    Refused(String),
}

impl DropOutcome {
    pub fn code(&self) -> &'static str {
        match self {
            DropOutcome::Processed(_) => "processed",
            DropOutcome::AlreadyProcessed { .. } => "already_processed",
            DropOutcome::Unreadable(_) => "unreadable",
            DropOutcome::Refused(_) => "refused",
        }
    }
}

/// Where receipts go. Called once per file, after the file has been moved; must not block for
/// long (queue the work, e.g. into an outbox).
pub trait ReceiptSink: Send + Sync {
    fn receipt(&self, receipt: &DropReceipt);
}

/// The default: receipts are only logged by the source.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReceipts;

impl ReceiptSink for NoReceipts {
    fn receipt(&self, _: &DropReceipt) {}
}

impl ReceiptSink for tokio::sync::mpsc::UnboundedSender<DropReceipt> {
    fn receipt(&self, receipt: &DropReceipt) {
        // The receiving side may be gone at shutdown; the file is already in its place.
        let _ = self.send(receipt.clone());
    }
}

/// Collects receipts in memory (tests, `drop --once`).
#[derive(Debug, Default)]
pub struct CollectReceipts(pub Mutex<Vec<DropReceipt>>);

impl ReceiptSink for CollectReceipts {
    fn receipt(&self, receipt: &DropReceipt) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(receipt.clone());
    }
}
