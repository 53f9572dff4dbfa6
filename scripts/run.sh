#!/usr/bin/env bash
# Serves the staff admin with a Celery worker and beat; Ctrl-C stops all three.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p .data/logs
pids=()
cleanup() {
  trap - INT TERM HUP EXIT
  # Stop first, talk after: the terminal may already be gone.
  kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  echo "[sor] stopped server, worker, beat and SMTP (PostgreSQL, Redis and dovecot keep running; 'make db-stop' stops them)" || true
}
trap cleanup INT TERM HUP EXIT
# The local SORpost mailbox (dovecot, kept running like PostgreSQL) and an SMTP server that keeps
# every reply in .data/mail/outbox/; the worker's beat polls the mailbox every minute.
export SOR_IMAP_HOST="${SOR_IMAP_HOST:-127.0.0.1}"
bash scripts/dev.sh imap-up
$PY -m sor_admin.devmail smtp --dir .data/mail/outbox --port "${SOR_SMTP_PORT:-8025}" >.data/logs/smtp.log 2>&1 & pids+=($!)
$PY manage.py sor_mail seed-demo
$PY manage.py sor_mail poll || true
.venv/bin/celery -A sor_admin worker -l info --concurrency 2 >.data/logs/worker.log 2>&1 & pids+=($!)
.venv/bin/celery -A sor_admin beat -l info --scheduler django_celery_beat.schedulers:DatabaseScheduler \
  --pidfile= >.data/logs/beat.log 2>&1 & pids+=($!)
cat <<MSG
[sor] staff admin:  http://127.0.0.1:8000/admin/   (demo logins above; password = user name)
[sor] public SOR browser: http://127.0.0.1:8000/sor/   read API: http://127.0.0.1:8000/api/v1/ (docs: /api/v1/docs/, FHIR: /fhir/)
[sor] public files: http://127.0.0.1:8000/filer/   self-service: http://127.0.0.1:8000/selvbetjening/
[sor] SORpost mailbox: IMAP 127.0.0.1:${SOR_IMAP_PORT:-11143} (sorpost/sorpost); sent replies: .data/mail/outbox/
[sor] Celery worker and beat logs: .data/logs/   Ctrl-C stops everything started here.
MSG
# In the foreground, so Ctrl-C reaches it directly; the EXIT trap then stops worker and beat.
$PY manage.py runserver 127.0.0.1:8000
