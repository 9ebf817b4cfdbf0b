"""The workflow service: workflows, immutable versions, templates, import/export and graph validation."""
