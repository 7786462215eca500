# The production image: web, worker and beat all run from it with different commands.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VAR_DIR=/app/var
WORKDIR /app

COPY pyproject.toml README.md ./
COPY smscampaigns ./smscampaigns
COPY contacts ./contacts
COPY campaigns ./campaigns
COPY sends ./sends
COPY audit ./audit
RUN pip install --no-cache-dir .
COPY . .

# collectstatic needs settings, not secrets: a throwaway key just for this build step. var/media exists in the
# image, owned by the app user, so that the named volume mounted there (uploaded imports) starts writable.
RUN SECRET_KEY=build-only-not-used-at-runtime SMS_DELIVERY_REQUIRED=false python manage.py collectstatic --noinput \
    && useradd --system --uid 1000 app && mkdir -p var/media && chown -R app var
USER app

EXPOSE 8000
# No HEALTHCHECK here: web, worker and beat all run this image, and each is checked its own way
# (docker-compose.yml); an HTTP check baked in would mark the worker and beat unhealthy.
CMD ["gunicorn", "smscampaigns.wsgi:application", "-c", "gunicorn.conf.py"]
