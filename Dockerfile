# mta-stsd container image. How to run it (mounts, port 443, the admin port,
# certbot's layout, reloads): README.md, section "Container". Tested by
# `make image-test` (tests/image/run.sh).
#
# Two stages. The build stage compiles mta-stsd with mbedTLS 3.6 and
# libmicrohttpd built from Debian 13's source packages (`make NOGNUTLS=1`:
# no HTTPS in libmicrohttpd, so no GnuTLS anywhere), both linked statically.
# The final stage starts empty and holds only the binary, the libraries it
# loads (glibc, libinih), a CA bundle for `mta-stsd check`, passwd/group
# entries for the fixed uid/gid 10443, and the default configuration.

# The base is pinned to Debian 13 (trixie), slim. Pin a digest
# (debian@sha256:...) or a dated tag (debian:trixie-YYYYMMDD-slim) where a
# registry is reachable: `--build-arg BASE=...`. Here it cannot be: these
# machines reach no registry, so `make image-test` bootstraps the base with
# debootstrap and imports it under this name, and a digest of the registry's
# image could neither be looked up nor matched.
ARG BASE=docker.io/library/debian:trixie-slim

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config cmake libinih-dev libjansson-dev ca-certificates \
        debian-archive-keyring bzip2 xz-utils python3 python3-jinja2 \
        python3-jsonschema nettle-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY scripts ./scripts
# mbedTLS and libmicrohttpd from Debian 13's source packages (the mirror of
# this stage's apt configuration): a layer of their own, kept while only
# server/ changes. INSTALL_DEPS=no: the RUN above installed what make needs
RUN make -j"$(nproc)" INSTALL_DEPS=no NOGNUTLS=1 deps
COPY server ./server
RUN make -j"$(nproc)" INSTALL_DEPS=no NOGNUTLS=1 build-nognutls/mta-stsd \
 && build-nognutls/mta-stsd -V
COPY docs/examples/container.conf ./container.conf
# the final root: binary, the libraries ldd lists, CA bundle, accounts, config
RUN set -eu; r=/rootfs; \
    install -D -m 755 build-nognutls/mta-stsd $r/usr/sbin/mta-stsd; \
    strip --strip-all $r/usr/sbin/mta-stsd; \
    for lib in $(ldd build-nognutls/mta-stsd | \
            awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do \
        cp -L --parents "$lib" $r/; \
    done; \
    if ldd build-nognutls/mta-stsd | grep -qi gnutls; then echo "GnuTLS linked" >&2; exit 1; fi; \
    install -D -m 644 /etc/ssl/certs/ca-certificates.crt $r/etc/ssl/certs/ca-certificates.crt; \
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nmta-stsd:x:10443:10443:mta-stsd:/nonexistent:/usr/sbin/nologin\n' >$r/etc/passwd; \
    printf 'root:x:0:\nmta-stsd:x:10443:\n' >$r/etc/group; \
    install -D -m 644 container.conf $r/etc/mta-stsd/conf/mta-stsd.conf; \
    ln -s conf/mta-stsd.conf $r/etc/mta-stsd/mta-stsd.conf; \
    mkdir -p $r/etc/mta-stsd/policies $r/etc/mta-stsd/certs $r/etc/mta-stsd/archive; \
    chmod 755 $r/etc/mta-stsd $r/etc/mta-stsd/*

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="mta-stsd" \
      org.opencontainers.image.description="MTA-STS policy server (RFC 8461): HTTPS with one certificate per domain by SNI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.documentation="README.md, section Container" \
      org.opencontainers.image.base.name="scratch"
COPY --from=build /rootfs/ /
# uid and gid 10443: no system group (below 1000), not nogroup (65534) and
# not a first login user (1000); give it read access to keys (README)
USER 10443:10443
# HTTPS for senders; the plain-HTTP admin listener (/healthz, /readyz,
# /metrics) for the local network only (README)
EXPOSE 443/tcp 9100/tcp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/sbin/mta-stsd", "health", "--ready"]
ENTRYPOINT ["/usr/sbin/mta-stsd"]
CMD ["-c", "/etc/mta-stsd/conf/mta-stsd.conf"]
