//! Stopping provisioning (or a DKIM rotation) between two of its steps, as a crash or a Lambda timeout would,
//! for the tests that prove nothing is left behind. The hook is compiled only with the
//! `fault-injection` feature, which no function or host enables, and is armed only by
//! [`crate::App::with_faults`]: nothing a request carries reaches it.

/// The steps of a registration (and of a claim's transfer), then of a DKIM rotation, in
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The name is reserved, with everything the registration is about to create.
    Reserved,
    /// A claimed name's previous holder's identity and records are removed.
    LeftoversRemoved,
    IdentityCreated,
    RecordsWritten,
    /// A rotation's new private key is sealed under KMS; nothing is stored yet.
    RotationSealed,
    /// The next key is in the table; its record not yet written to a managed zone.
    RotationStored,
    /// SES signs with the next key; the table does not say so yet.
    DkimSwitched,
    /// A delete marked the row; nothing outside the table is removed yet.
    DeleteMarked,
}

#[cfg(feature = "fault-injection")]
pub use armed::Faults;

#[cfg(feature = "fault-injection")]
mod armed {
    use tokio::sync::Notify;

    use super::Step;

    /// Stops the work after one step: the future never resumes, as if the process died;
    /// or, made with [`Faults::pause_after`], waits there until [`Faults::resume`], as a
    /// slow process would.
    pub struct Faults {
        stop_after: Step,
        reached: Notify,
        resume: Option<Notify>,
    }

    impl Faults {
        pub fn stop_after(step: Step) -> Self {
            Self {
                stop_after: step,
                reached: Notify::new(),
                resume: None,
            }
        }

        pub fn pause_after(step: Step) -> Self {
            Self {
                resume: Some(Notify::new()),
                ..Self::stop_after(step)
            }
        }

        /// Lets paused work go on.
        pub fn resume(&self) {
            if let Some(resume) = &self.resume {
                resume.notify_one();
            }
        }

        /// Returns once the work has stopped at the step.
        pub async fn reached(&self) {
            self.reached.notified().await;
        }

        pub(crate) async fn at(&self, step: Step) {
            if step == self.stop_after {
                // A permit is stored if nobody waits yet, so the test cannot miss it.
                self.reached.notify_one();
                match &self.resume {
                    Some(resume) => resume.notified().await,
                    None => std::future::pending::<()>().await,
                }
            }
        }
    }
}
