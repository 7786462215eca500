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

# collectstatic needs settings, not secrets: a throwaway key just for this build step.
RUN SECRET_KEY=build-only-not-used-at-runtime python manage.py collectstatic --noinput \
    && useradd --system --uid 1000 app && mkdir -p var && chown -R app var
USER app

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["gunicorn", "smscampaigns.wsgi:application", "-c", "gunicorn.conf.py"]
