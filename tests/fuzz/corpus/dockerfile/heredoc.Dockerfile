# syntax=docker/dockerfile:1.4
FROM debian:bookworm
RUN <<EOT bash
set -eux
apt-get update
apt-get install -y curl
EOT
COPY <<-"EOF" /etc/motd
	Welcome, $USER
	EOF
RUN 3<<CONF cat /dev/fd/3 > /etc/app.conf
key=value
CONF
