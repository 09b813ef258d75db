"""Operator CLI for the IAM_USER_CONSOLE_MFA rule (same engine as the Lambda)."""
