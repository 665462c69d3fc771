#!/bin/sh
# CloudStack Network Extension script: install at the extension's path on every management server.
# CloudStack runs it as `<script> <command> <payload-file> <timeout>`; guestrouter takes that argv as is.
exec "${GUESTROUTER:-guestrouter}" extension "$@"
