# mta-stsd container image: build on Debian 13 (which packages mbedTLS 3.6,
# libmicrohttpd and inih), run as an unprivileged user on a slim base.
#
#   docker build -t mta-stsd .
#   docker run -d -p 443:8443 \
#       -v /srv/mta-sts/mta-stsd.conf:/etc/mta-stsd/mta-stsd.conf:ro \
#       -v /srv/mta-sts/policies:/etc/mta-stsd/policies:ro \
#       -v /etc/letsencrypt:/etc/letsencrypt:ro \
#       mta-stsd
#
# The configuration must listen on a port the unprivileged user may bind
# (8443 here, published as 443), or the container must be given
# CAP_NET_BIND_SERVICE (docker run --cap-add NET_BIND_SERVICE ...; see README).

FROM debian:trixie-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config \
        libmbedtls-dev libmicrohttpd-dev libinih-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY server ./server
COPY docs/mta-stsd.8 ./docs/mta-stsd.8
# the system's mbedTLS 3.6, whether or not its pkg-config files are installed
RUN make MBEDTLS_SYSTEM=yes MBEDTLS_DEP= MBEDTLS_CFLAGS= \
        MBEDTLS_LIBS="-lmbedtls -lmbedx509 -lmbedcrypto" build/mta-stsd \
 && strip build/mta-stsd \
 && build/mta-stsd -V

FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmbedtls21 libmbedx509-7 \
        libmbedcrypto16 libmicrohttpd12t64 libinih1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10443 --user-group --home-dir /nonexistent \
        --shell /usr/sbin/nologin mta-stsd \
 && mkdir -p /etc/mta-stsd/policies /etc/mta-stsd/certs
COPY --from=build /src/build/mta-stsd /usr/sbin/mta-stsd
COPY --from=build /src/docs/mta-stsd.8 /usr/share/man/man8/mta-stsd.8
COPY docs/examples/container.conf /etc/mta-stsd/mta-stsd.conf
VOLUME ["/etc/mta-stsd/policies", "/etc/mta-stsd/certs"]
USER mta-stsd
EXPOSE 443 8443
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/sbin/mta-stsd"]
CMD ["-c", "/etc/mta-stsd/mta-stsd.conf"]
