FROM python:3.12-slim

# Keeps Python from buffering stdout and writing .pyc files
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENV APP_HOME /srv/app

WORKDIR $APP_HOME
RUN set -eux; \
    apt-get update; \
    # build tools only for wheels that need them
    apt-get install -y --no-install-recommends build-essential; \
    rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY ["src/my app", "./app/"]
VOLUME ["/srv/app/data"]
ONBUILD COPY . /srv/app/extra
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN echo "${APP_HOME}" | tee /tmp/home
CMD gunicorn --bind 0.0.0.0:8000 app.wsgi
