//! Admission plugins beyond the server's built-in ones: the ServiceAccount plugin for pods, and
//! the webhooks (Validating/MutatingWebhookConfigurations evaluated on every matching
//! request, with the failure texts kube-apiserver on kind produces when a webhook cannot be
//! reached). `crate::cluster` registers them.

pub mod matching;
pub mod serviceaccount;
pub mod webhooks;

pub use webhooks::{AdmissionView, WebhookAdmission, WebhookResponder, WebhookTarget, WebhookVerdict};
