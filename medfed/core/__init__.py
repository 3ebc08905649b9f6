"""Pure building blocks: settings, errors, security primitives and the audit chain."""
