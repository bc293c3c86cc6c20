//! Redaction policies: the reference policy (WildChat's release rules) and the strict policy.
