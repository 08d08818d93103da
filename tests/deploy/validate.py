#!/usr/bin/env python3
"""tests/deploy/validate.py - the Kubernetes manifests, checked without a cluster.

Reads every *.yaml under deploy/kubernetes/ and checks:
- each file is well-formed YAML and each document names apiVersion, kind and
  metadata.name;
- every field of every document is one the API version it names knows, with
  a value of the right shape, and no required field is missing: core and
  apps/policy kinds against Debian's python3-kubernetes models (the
  OpenAPI types of the Kubernetes release it was generated from), the
  cert-manager.io/v1 Certificate against its field list below (cert-manager's
  API reference; no package ships its schema);
- what the pods mount matches what the image reads: the configuration path
  of the image's command (Dockerfile CMD), policy_dir and cert_dir of that
  configuration, a TLS Secret per Certificate mounted as one subdirectory of
  cert_dir with tls.crt and tls.key (the layout server/certset.c
  discovers), a Certificate for mta-sts.<domain> of every policy, the ports
  of listen and admin_listen behind the Service and the probes;
- with --binary, that mta-stsd -t accepts the configuration with the
  ConfigMaps and, for each Certificate, a throwaway certificate for its
  dnsNames laid out as the pods mount them (paths moved under a temporary
  root);
- the replicas, the PodDisruptionBudget, the probes and the securityContext
  the README describes;
- and, so that the checks can fail, that each finds the fault planted in a
  copy of the manifests (an unknown field, a moved mount, a missing key).

Usage: validate.py [--binary build/mta-stsd]
Prints PASS/FAIL lines and "N passed, N failed"; exits 1 when any failed.
"""
import configparser
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
    from kubernetes.client import models
except ImportError:
    # Debian's python3-kubernetes is installed for the system's python3,
    # which need not be the python3 first in PATH
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAIL setup: python3-kubernetes and python3-yaml are needed "
          "(scripts/install-deps.sh installs them)")
    print("0 passed, 1 failed")
    sys.exit(1)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DEPLOY = os.path.join(ROOT, "deploy", "kubernetes")

# cert-manager.io/v1: the fields of a Certificate (JSON name -> type, the
# types named as in python3-kubernetes' models; "cm." types are below)
CERT_MANAGER = {
    "cm.Certificate": ({"apiVersion": "str", "kind": "str",
                        "metadata": "V1ObjectMeta", "spec": "cm.CertificateSpec",
                        "status": "object"}, {"spec"}),
    "cm.CertificateSpec": ({
        "additionalOutputFormats": "list[object]", "commonName": "str",
        "dnsNames": "list[str]", "duration": "str",
        "emailAddresses": "list[str]", "encodeUsagesInRequest": "bool",
        "ipAddresses": "list[str]", "isCA": "bool",
        "issuerRef": "cm.IssuerRef", "keystores": "object",
        "literalSubject": "str", "nameConstraints": "object",
        "otherNames": "list[object]", "privateKey": "cm.PrivateKey",
        "renewBefore": "str", "renewBeforePercentage": "int",
        "revisionHistoryLimit": "int", "secretName": "str",
        "secretTemplate": "cm.SecretTemplate", "subject": "cm.Subject",
        "uris": "list[str]", "usages": "list[str]"},
        {"secretName", "issuerRef"}),
    "cm.IssuerRef": ({"name": "str", "kind": "str", "group": "str"}, {"name"}),
    "cm.PrivateKey": ({"algorithm": "str", "encoding": "str",
                       "rotationPolicy": "str", "size": "int"}, set()),
    "cm.SecretTemplate": ({"annotations": "dict(str, str)",
                           "labels": "dict(str, str)"}, set()),
    "cm.Subject": ({"countries": "list[str]", "localities": "list[str]",
                    "organizationalUnits": "list[str]",
                    "organizations": "list[str]", "postalCodes": "list[str]",
                    "provinces": "list[str]", "serialNumber": "str",
                    "streetAddresses": "list[str]"}, set()),
}


def model_type(api_version, kind):
    """the type name of a document's kind in its API version, or None"""
    if api_version == "cert-manager.io/v1" and kind == "Certificate":
        return "cm.Certificate"
    version = api_version.split("/")[-1]
    name = version[0].upper() + version[1:] + kind
    return name if hasattr(models, name) else None


def required_fields(cls):
    """the JSON names of the fields a model refuses to be without"""
    names = set()
    for attr, json_name in cls.attribute_map.items():
        kwargs = {a: object() for a in cls.attribute_map if a != attr}
        try:
            cls(**kwargs)
        except ValueError as e:
            if "`%s`" % attr in str(e):
                names.add(json_name)
        except Exception:
            pass
    return names


REQUIRED = {}


def check(value, typ, path, errs):
    """append to errs every field of value that type typ does not know"""
    if typ.startswith("list["):
        if not isinstance(value, list):
            errs.append("%s: a list is expected (%s)" % (path, typ))
            return
        for i, v in enumerate(value):
            check(v, typ[5:-1], "%s[%d]" % (path, i), errs)
        return
    if typ.startswith("dict("):
        if not isinstance(value, dict):
            errs.append("%s: a map is expected (%s)" % (path, typ))
            return
        inner = typ[5:-1].split(", ", 1)[1]
        for k, v in value.items():
            check(v, inner, "%s.%s" % (path, k), errs)
        return
    if typ == "str" or typ in ("datetime", "date"):
        if not isinstance(value, str):
            errs.append("%s: a string is expected, not %r" % (path, value))
        return
    if typ == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errs.append("%s: an integer is expected, not %r" % (path, value))
        return
    if typ == "bool":
        if not isinstance(value, bool):
            errs.append("%s: true or false is expected, not %r" % (path, value))
        return
    if typ == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errs.append("%s: a number is expected, not %r" % (path, value))
        return
    if typ == "object":
        return
    if typ in CERT_MANAGER:
        fields, required = CERT_MANAGER[typ]
    else:
        cls = getattr(models, typ, None)
        if cls is None:
            errs.append("%s: unknown type %s" % (path, typ))
            return
        fields = {cls.attribute_map[a]: t for a, t in cls.openapi_types.items()}
        if typ not in REQUIRED:
            REQUIRED[typ] = required_fields(cls)
        required = REQUIRED[typ]
    if not isinstance(value, dict):
        errs.append("%s: a map is expected (%s), not %r" % (path, typ, value))
        return
    for k, v in value.items():
        if k not in fields:
            errs.append("%s.%s: not a field of %s (known: %s)"
                        % (path, k, typ, ", ".join(sorted(fields))))
            continue
        check(v, fields[k], "%s.%s" % (path, k), errs)
    for k in sorted(required - set(value)):
        errs.append("%s.%s: required by %s, missing" % (path, k, typ))


def load():
    """every document of every manifest: [(file, doc)], and parse errors"""
    docs, errs = [], []
    files = sorted(glob.glob(os.path.join(DEPLOY, "*.yaml")))
    if not files:
        errs.append("no *.yaml in %s" % DEPLOY)
    for f in files:
        try:
            with open(f) as fp:
                for d in yaml.safe_load_all(fp):
                    if d is not None:
                        docs.append((os.path.basename(f), d))
        except yaml.YAMLError as e:
            errs.append("%s: %s" % (os.path.basename(f), e))
    return docs, errs


def field_errors(docs):
    """every unknown field, wrong shape or missing required field"""
    errs = []
    for f, d in docs:
        where = "%s: %s %s" % (f, d.get("kind"), (d.get("metadata") or {}).get("name"))
        if not isinstance(d, dict) or not all(k in d for k in ("apiVersion", "kind", "metadata")):
            errs.append("%s: apiVersion, kind and metadata are required" % where)
            continue
        typ = model_type(d["apiVersion"], d["kind"])
        if typ is None:
            errs.append("%s: %s is not a kind of %s known here"
                        % (where, d["kind"], d["apiVersion"]))
            continue
        check(d, typ, where, errs)
    return errs


def one(docs, kind, name=None):
    """the one document of that kind (and name)"""
    found = [d for _, d in docs if d.get("kind") == kind and
             (name is None or d["metadata"].get("name") == name)]
    if len(found) != 1:
        raise LookupError("%d %s documents%s, expected 1" %
                          (len(found), kind, "" if name is None else " named " + name))
    return found[0]


def image_facts():
    """the uid and the configuration path of the image (Dockerfile)"""
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    user = re.search(r"^USER (\d+):(\d+)$", text, re.M)
    return int(user.group(1)), int(user.group(2)), cmd[cmd.index("-c") + 1]


def mounts_by_path(dep):
    """mount path -> volume of the Deployment's first container"""
    pod = dep["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    c = pod["containers"][0]
    return {m["mountPath"]: vols.get(m["name"]) for m in c.get("volumeMounts", [])}, c


def volume_files(vol, docs):
    """the file names a ConfigMap or Secret volume shows"""
    for kind, key in (("configMap", "name"), ("secret", "secretName")):
        src = vol.get(kind)
        if src is None:
            continue
        if src.get("items"):
            return {i["path"] for i in src["items"]}, kind, src[key]
        if kind == "configMap":
            return set(one(docs, "ConfigMap", src[key]).get("data", {})), kind, src[key]
        return {"tls.crt", "tls.key", "ca.crt"}, kind, src[key]
    return set(), None, None


def read_config(docs, dep):
    """the mta-stsd.conf the pods read: the ConfigMap mounted at its directory"""
    _, _, conf_path = image_facts()
    mounts, c = mounts_by_path(dep)
    args = c.get("args") or []
    if "-c" in args:
        conf_path = args[args.index("-c") + 1]
    d, base = os.path.split(conf_path)
    if d not in mounts or mounts[d] is None:
        raise LookupError("the configuration %s: nothing is mounted at %s" % (conf_path, d))
    files, kind, name = volume_files(mounts[d], docs)
    if kind != "configMap" or base not in files:
        raise LookupError("the configuration %s: the volume at %s has no %s" % (conf_path, d, base))
    text = one(docs, "ConfigMap", name)["data"][base]
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"),
                                   comment_prefixes=(";", "#"), strict=False)
    cp.read_string(text)
    return conf_path, cp["server"]


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def mount_errors(docs):
    """what the pods mount against what the image and its configuration read"""
    errs = []
    dep = one(docs, "Deployment")
    mounts, c = mounts_by_path(dep)
    conf_path, server = read_config(docs, dep)
    # policies: a ConfigMap of <domain>.txt at policy_dir
    pdir = server.get("policy_dir")
    domains = []
    if pdir not in mounts or mounts[pdir] is None:
        errs.append("policy_dir %s (%s): nothing is mounted there" % (pdir, conf_path))
    else:
        files, kind, name = volume_files(mounts[pdir], docs)
        if kind != "configMap":
            errs.append("policy_dir %s: not a ConfigMap volume" % pdir)
        domains = sorted(f[:-4] for f in files if f.endswith(".txt"))
        if not domains or len(domains) != len(files):
            errs.append("policy_dir %s: ConfigMap %s must hold <domain>.txt files only, has %s"
                        % (pdir, name, sorted(files)))
    # certificates: one TLS Secret per subdirectory of cert_dir
    cdir = server.get("cert_dir")
    certs = {d["spec"]["secretName"]: d for _, d in docs if d.get("kind") == "Certificate"}
    mounted = {}
    for path, vol in mounts.items():
        if vol is None or "secret" not in vol:
            continue
        if os.path.dirname(path) != cdir:
            errs.append("Secret %s mounted at %s, not in a subdirectory of cert_dir %s"
                        % (vol["secret"]["secretName"], path, cdir))
            continue
        files, _, secret = volume_files(vol, docs)
        if not {"tls.crt", "tls.key"} <= files:
            errs.append("%s: Secret %s shows %s; cert_dir discovery needs tls.crt and tls.key"
                        % (path, secret, sorted(files)))
        mounted[secret] = path
    for secret in certs:
        if secret not in mounted:
            errs.append("Certificate %s: its Secret %s is not mounted under cert_dir %s"
                        % (certs[secret]["metadata"]["name"], secret, cdir))
    for secret in mounted:
        if secret not in certs:
            errs.append("Secret %s mounted at %s: no Certificate writes it" % (secret, mounted[secret]))
    names = {n for d in certs.values() for n in d["spec"].get("dnsNames", [])}
    for dom in domains:
        if "mta-sts." + dom not in names:
            errs.append("policy %s.txt: no Certificate names mta-sts.%s" % (dom, dom))
    # ports: listen behind the Service, admin_listen behind the probes
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    listen = [port_of(a.strip()) for a in server.get("listen", "").split(",") if a.strip()]
    admin = port_of(server["admin_listen"]) if server.get("admin_listen") else None
    svc = one(docs, "Service")
    for p in svc["spec"]["ports"]:
        target = p.get("targetPort", p["port"])
        target = ports.get(target, target)
        if p["port"] != 443 or target not in listen:
            errs.append("Service %s: port %s -> %s, the configuration listens on %s"
                        % (svc["metadata"]["name"], p["port"], target, listen))
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        g = (c.get(probe) or {}).get("httpGet") or {}
        port = ports.get(g.get("port"), g.get("port"))
        if g.get("path") != path or port != admin:
            errs.append("%s: GET %s on port %s; expected %s on the admin port %s"
                        % (probe, g.get("path"), port, path, admin))
    return errs


def shape_errors(docs):
    """replicas, disruption budget, selectors and the security context"""
    errs = []
    dep = one(docs, "Deployment")
    pdb = one(docs, "PodDisruptionBudget")
    svc = one(docs, "Service")
    labels = dep["spec"]["template"]["metadata"].get("labels", {})
    replicas = dep["spec"].get("replicas", 1)
    if replicas < 2:
        errs.append("Deployment: %d replica(s), at least 2 expected" % replicas)
    for what, sel in (("PodDisruptionBudget", pdb["spec"]["selector"].get("matchLabels", {})),
                      ("Service", svc["spec"].get("selector", {})),
                      ("Deployment selector", dep["spec"]["selector"].get("matchLabels", {}))):
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            errs.append("%s selects %s, the pods carry %s" % (what, sel, labels))
    if not 1 <= pdb["spec"].get("minAvailable", 0) < replicas:
        errs.append("PodDisruptionBudget: minAvailable %s with %d replicas"
                    % (pdb["spec"].get("minAvailable"), replicas))
    uid, gid, _ = image_facts()
    pod = dep["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    c = pod["containers"][0]
    sc = c.get("securityContext", {})
    caps = sc.get("capabilities", {})
    want = {
        "runAsNonRoot": psc.get("runAsNonRoot") or sc.get("runAsNonRoot"),
        "runAsUser = image uid %d" % uid: psc.get("runAsUser", uid) == uid,
        "runAsGroup = image gid %d" % gid: psc.get("runAsGroup", gid) == gid,
        "fsGroup = image gid (keys readable)": psc.get("fsGroup") == gid,
        "readOnlyRootFilesystem": sc.get("readOnlyRootFilesystem") is True,
        "allowPrivilegeEscalation false": sc.get("allowPrivilegeEscalation") is False,
        "capabilities drop ALL": caps.get("drop") == ["ALL"],
        "capabilities add only NET_BIND_SERVICE": caps.get("add") == ["NET_BIND_SERVICE"],
    }
    errs += ["securityContext: %s does not hold" % k for k, ok in want.items() if not ok]
    return errs


def config_loads(docs, binary):
    """mta-stsd -t on the pods' files, laid out under a temporary root"""
    root = tempfile.mkdtemp(prefix="mtasts-deploy.")
    try:
        dep = one(docs, "Deployment")
        mounts, _ = mounts_by_path(dep)
        conf_path, _ = read_config(docs, dep)
        certs = {d["spec"]["secretName"]: d for _, d in docs if d.get("kind") == "Certificate"}
        for path, vol in mounts.items():
            d = root + path
            os.makedirs(d, exist_ok=True)
            if vol and "configMap" in vol:
                data = one(docs, "ConfigMap", vol["configMap"]["name"]).get("data", {})
                items = vol["configMap"].get("items") or [{"key": k, "path": k} for k in data]
                for i in items:
                    text = data[i["key"]]
                    if i["path"] == os.path.basename(conf_path):
                        text = re.sub(r"(=\s*)(/etc/mta-stsd/)", lambda m: m.group(1) + root + m.group(2), text)
                    with open(os.path.join(d, i["path"]), "w") as fp:
                        fp.write(text)
            elif vol and "secret" in vol:
                cert = certs.get(vol["secret"]["secretName"])
                if cert is None:
                    return ["%s: no Certificate for Secret %s" % (path, vol["secret"]["secretName"])]
                names = cert["spec"]["dnsNames"]
                r = subprocess.run(
                    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                     "-keyout", os.path.join(d, "tls.key"), "-out", os.path.join(d, "tls.crt"),
                     "-subj", "/CN=" + names[0],
                     "-addext", "subjectAltName=" + ",".join("DNS:" + n for n in names)],
                    capture_output=True, text=True)
                if r.returncode != 0:
                    return ["openssl: %s" % r.stderr.strip()]
        r = subprocess.run([binary, "-t", "-c", root + conf_path], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            return ["mta-stsd -t exit %d: %s" % (r.returncode, r.stderr.strip().replace(root, ""))]
        domains = re.search(r"(\d+) domain", r.stderr)
        want = len([k for k in one(docs, "ConfigMap", "mta-stsd-policies")["data"]])
        if not domains or int(domains.group(1)) != want:
            return ["mta-stsd -t loaded %s domain(s), the policies ConfigMap has %d: %s"
                    % (domains.group(1) if domains else "no", want, r.stderr.strip())]
        return []
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_check(fn, docs):
    try:
        return fn(docs)
    except (LookupError, KeyError, TypeError, AttributeError, ValueError) as e:
        return ["%s: %s: %s" % (fn.__name__, type(e).__name__, e)]


passed = failed = skipped = 0


def result(name, errs):
    global passed, failed
    if errs:
        failed += 1
        print("FAIL %s" % name)
        for e in errs:
            print("    %s" % e)
    else:
        passed += 1
        print("PASS %s" % name)


def planted(docs, fn, plant, expect):
    """fn must report a fault planted in a copy of docs (text expect)"""
    bad = copy.deepcopy(docs)
    plant(bad)
    errs = run_check(fn, bad)
    if any(expect in e for e in errs):
        return []
    return ["the planted fault (%s) went unreported: %s" % (expect, errs or "no error")]


def find(docs, kind, name=None):
    return one(docs, kind, name)


def main():
    docs, errs = load()
    result("yaml_well_formed", errs)
    if errs:
        print("%d passed, %d failed" % (passed, failed))
        return 1
    for f, d in docs:
        result("fields_known_%s_%s" % (d.get("kind"), (d.get("metadata") or {}).get("name")),
               run_check(field_errors, [(f, d)]))
    result("mounts_match_configuration", run_check(mount_errors, docs))
    binary = sys.argv[sys.argv.index("--binary") + 1] if "--binary" in sys.argv[:-1] else None
    if binary and os.access(binary, os.X_OK):
        result("configuration_loads_with_mta_stsd_t",
               run_check(lambda ds: config_loads(ds, binary), docs))

        def bad_key(ds):
            data = find(ds, "ConfigMap", "mta-stsd-config")["data"]
            data["mta-stsd.conf"] = data["mta-stsd.conf"].replace("log_level", "log_levle")

        result("planted_bad_configuration_key_found",
               planted(docs, lambda ds: config_loads(ds, binary), bad_key, "mta-stsd -t exit 1"))
    else:
        print("# skipped configuration_loads_with_mta_stsd_t: no --binary given "
              "or %s is not executable" % binary)
        global skipped
        skipped += 1
    result("replicas_budget_security", run_check(shape_errors, docs))

    def typo(ds):
        find(ds, "Deployment")["spec"]["replica"] = 2

    def cm_typo(ds):
        find(ds, "Certificate", "mta-sts-example-com")["spec"]["dnsName"] = ["x"]

    def deep_typo(ds):
        c = find(ds, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        c["readinessProbe"]["httpGet"]["paht"] = "/readyz"

    def moved_policies(ds):
        c = find(ds, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        for m in c["volumeMounts"]:
            if m["name"] == "policies":
                m["mountPath"] = "/etc/mta-stsd/policy"

    def no_key(ds):
        pod = find(ds, "Deployment")["spec"]["template"]["spec"]
        for v in pod["volumes"]:
            if "secret" in v:
                v["secret"]["items"] = v["secret"]["items"][:1]
                break

    def flat_cert(ds):
        c = find(ds, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        for m in c["volumeMounts"]:
            if m["mountPath"].startswith("/etc/mta-stsd/certs/"):
                m["mountPath"] = "/etc/mta-stsd/certs"
                break

    def no_name(ds):
        del find(ds, "Deployment")["spec"]["template"]["spec"]["containers"][0]["name"]

    def root(ds):
        pod = find(ds, "Deployment")["spec"]["template"]["spec"]
        pod["containers"][0]["securityContext"]["capabilities"]["add"].append("SYS_ADMIN")

    result("planted_unknown_field_found", planted(docs, field_errors, typo, ".spec.replica: not a field"))
    result("planted_unknown_cert_manager_field_found",
           planted(docs, field_errors, cm_typo, ".spec.dnsName: not a field"))
    result("planted_nested_unknown_field_found",
           planted(docs, field_errors, deep_typo, ".httpGet.paht: not a field"))
    result("planted_missing_required_field_found",
           planted(docs, field_errors, no_name, ".name: required by V1Container, missing"))
    result("planted_moved_policy_mount_found",
           planted(docs, mount_errors, moved_policies, "policy_dir /etc/mta-stsd/policies"))
    result("planted_missing_key_found", planted(docs, mount_errors, no_key, "needs tls.crt and tls.key"))
    result("planted_secret_not_in_subdirectory_found",
           planted(docs, mount_errors, flat_cert, "not in a subdirectory of cert_dir"))
    result("planted_extra_capability_found",
           planted(docs, shape_errors, root, "add only NET_BIND_SERVICE"))
    print("%d passed, %d failed%s" % (passed, failed,
                                      ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
