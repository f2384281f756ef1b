#!/usr/bin/python3
"""Builds the in-toto verification corpus with the reference implementation.

Run with Debian's python (in-toto 1.3.1 + securesystemslib 0.26):

  /usr/bin/python3 test/interop/make_corpus.py corpus OUT_DIR   build every case into OUT_DIR
  /usr/bin/python3 test/interop/make_corpus.py list             print the case names (JSON), cheap
  /usr/bin/python3 test/interop/make_corpus.py layout ...       sign a demo layout (see --help)

The corpus is the classic in-toto demo (clone -> update-version -> package, an
untar inspection; alice owns the layout, bob and carl are functionaries) plus
tampered variants. Layout:

  OUT_DIR/keys/                 every key pair (private keys never leave OUT_DIR)
  OUT_DIR/cases.json            [{name, description}] in generation order
  OUT_DIR/<case>/verify/        what the verifier gets: root.layout, alice.pub,
                                demo-project.tar.gz, *.link, sublayout link dirs
  OUT_DIR/<case>/expected.json  the reference's verdict (see write_expected)

in-toto-verify runs in a scratch copy of verify/ because it extracts the tarball
and writes untar.link into its working directory; the layout's untar rules
DISALLOW anything they do not expect, so a reused directory would change the
verdict. Generated keys and links are test artifacts: never commit them.
"""

import argparse
import base64
import copy
import datetime
import json
import os
import re
import shutil
import sys
import tempfile

from securesystemslib import interface
import securesystemslib.keys as sslib_keys

import in_toto.runlib as runlib
from in_toto.models.layout import Layout
from in_toto.models.link import Link
from in_toto.models.metadata import Metablock
import in_toto.in_toto_verify as in_toto_verify_cli

FOO_V0 = 'VERSION = "foo-v0"\n\nprint("Hello in-toto")\n'
DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
FAR_FUTURE = "2099-01-01T00:00:00Z"
PAST = "2001-01-01T00:00:00Z"
TAR_COMMAND = ["tar", "--exclude", ".git", "-zcvf", "demo-project.tar.gz", "demo-project"]
CLONE_COMMAND = ["cp", "-r", "../origin/demo-project", "demo-project"]

# Cases in generation order; descriptions end up in cases.json and test names.
CASES = [
    ("demo-good", "the classic demo chain, untampered"),
    ("product-changed", "demo-project.tar.gz replaced after packaging"),
    ("material-changed", "foo.py changed between update-version and package"),
    ("unauthorized-key", "package link signed by eve, who is not a functionary"),
    ("unauthorized-renamed", "eve's package link renamed to carl's link file name"),
    ("link-edited", "package link products edited after signing"),
    ("link-unknown-field", "unknown field added to a signed link (the model drops it: still valid)"),
    ("link-streams-recorded", "package link with recorded stdout containing raw newlines"),
    ("link-reformatted", "signed link re-serialized compactly with other key order (signature still valid)"),
    ("link-non-ascii-byproducts", "package link byproducts with non-ASCII, tabs, CR and an ANSI escape"),
    ("missing-link", "update-version link missing"),
    ("layout-expired", "layout expired"),
    ("layout-wrong-key", "layout signed by bob, verified with alice's key"),
    ("layout-expired-and-wrong-key", "expired layout signed by the wrong key (signature is checked first)"),
    ("layout-edited", "layout readme edited after signing"),
    ("layout-two-signatures", "layout signed by alice and bob, both keys given"),
    ("layout-second-key-unsigned", "layout signed by alice only, alice and bob keys given"),
    ("layout-key-ed25519", "layout signed with an ed25519 key"),
    ("threshold2-good", "package threshold 2, links from carl and dan"),
    ("threshold2-one-link", "package threshold 2, only carl's link"),
    ("threshold2-same-key-twice", "package threshold 2, carl's link copied to dan's file name"),
    ("threshold2-duplicate-pubkey", "package threshold 2 with pubkeys [carl, carl], one link"),
    ("threshold2-disagree", "package threshold 2, carl and dan report different products"),
    ("command-mismatch", "package ran a different command than expected (warning only)"),
    ("inspection-fails", "untar inspection command exits non-zero"),
    ("inspection-rule-fails", "untar inspection products contain an unexpected file"),
    ("step-rule-require", "package products REQUIRE a file that was never produced"),
    ("params-good", "layout uses {TARBALL}; verified with TARBALL=demo-project.tar.gz"),
    ("params-wrong-value", "layout uses {TARBALL}; verified with TARBALL=other.tar.gz"),
    ("sublayout-good", "package delegated to a sublayout signed by carl, its step tar done by dan"),
    ("sublayout-missing-link", "sublayout's tar link missing"),
    ("sublayout-wrong-signer", "sublayout signed by eve but stored under carl's name"),
    ("sublayout-link-wrong-signer", "sublayout's tar link signed by eve, stored under dan's name"),
    ("functionary-ed25519", "bob uses an ed25519 key"),
    ("functionary-ecdsa", "carl uses an ecdsa-sha2-nistp256 key"),
    ("functionary-ecdsa-edited", "carl's ecdsa-signed package link edited after signing"),
    ("dsse-links", "every link a DSSE envelope (in-toto 1.4 format)"),
    ("dsse-layout", "DSSE layout and DSSE links"),
    ("dsse-link-edited", "DSSE package link payload edited after signing"),
    ("dsse-layout-edited", "DSSE layout payload edited after signing"),
    ("dsse-layout-wrong-key", "DSSE layout signed by bob, verified with alice's key"),
]

# What `custody verify --json` must report for a reference exception.
def expected_failure(error_class, message):
  if error_class == "SignatureVerificationError":
    return "LAYOUT_SIGNATURE", "layout-signature"
  if error_class == "LayoutExpiredError":
    return "LAYOUT_EXPIRED", "layout-expiry"
  if error_class == "LinkNotFoundError":
    return "LINK_NOT_FOUND", "links"
  if error_class == "ThresholdVerificationError":
    if "have different artifacts" in message:
      return "LINKS_DISAGREE", "threshold-agreement"
    return "THRESHOLD", "threshold"
  if error_class == "RuleVerificationError":
    return "ARTIFACT_RULE", "artifact-rules"  # refined to inspection-rules below
  if error_class == "BadReturnValueError":
    return "INSPECTION_FAILED", "inspection"
  return None, None


# ---------------------------------------------------------------- keys

class Keys:
  """Key pairs made once per corpus (RSA generation is the slow part)."""

  def __init__(self, key_dir):
    self.dir = key_dir
    os.makedirs(key_dir, exist_ok=True)
    self.private = {}
    self.public = {}
    self.pub_path = {}
    self.key_type = {}

  def make(self, name, key_type):
    path = os.path.join(self.dir, name)
    if key_type == "rsa":
      interface.generate_and_write_unencrypted_rsa_keypair(filepath=path)
      self.private[name] = interface.import_rsa_privatekey_from_file(path)
      self.public[name] = interface.import_rsa_publickey_from_file(path + ".pub")
    elif key_type == "ed25519":
      interface.generate_and_write_unencrypted_ed25519_keypair(filepath=path)
      self.private[name] = interface.import_ed25519_privatekey_from_file(path)
      self.public[name] = interface.import_ed25519_publickey_from_file(path + ".pub")
    elif key_type == "ecdsa":
      interface.generate_and_write_unencrypted_ecdsa_keypair(filepath=path)
      self.private[name] = interface.import_ecdsa_privatekey_from_file(path)
      self.public[name] = interface.import_ecdsa_publickey_from_file(path + ".pub")
    else:
      raise ValueError(key_type)
    self.pub_path[name] = path + ".pub"
    self.key_type[name] = key_type

  def keyid(self, name):
    return self.public[name]["keyid"]

  def short(self, name):
    return self.keyid(name)[:8]


# ---------------------------------------------------------------- metadata helpers

def link_file(step, keyid):
  return "{}.{}.link".format(step, keyid[:8])


_signed_cache = {}


def signed_metablock(body, *signers):
  """Returns the metablock JSON text of a link/layout dict signed by the given private keys.

  Memoized: securesystemslib re-parses (and checks) the RSA private key on every
  signature, ~0.15 s each, and most cases reuse the same three links.
  """
  cache_key = (json.dumps(body, sort_keys=True), tuple(k["keyid"] for k in signers))
  if cache_key not in _signed_cache:
    _signed_cache[cache_key] = _sign_metablock(body, signers)
  return _signed_cache[cache_key]


def _sign_metablock(body, signers):
  if body["_type"] == "link":
    signed = Link.read(copy.deepcopy(body))
  else:
    signed = Layout.read(copy.deepcopy(body))
  mb = Metablock(signed=signed)
  for key in signers:
    mb.sign(key)
  return str(mb)


def pae(payload_type, payload):
  t = payload_type.encode("utf-8")
  return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


_dsse_cache = {}


def dsse_envelope(body, *signers):
  cache_key = (json.dumps(body, sort_keys=True), tuple(k["keyid"] for k in signers))
  if cache_key not in _dsse_cache:
    _dsse_cache[cache_key] = _dsse_envelope(body, *signers)
  return _dsse_cache[cache_key]


def _dsse_envelope(body, *signers, payload=None):
  """in-toto 1.4 style DSSE envelope: base64 payload, base64 signatures over PAE.

  The payload is what in-toto's Envelope.from_signable writes: plain
  json.dumps(attr.asdict(signable), sort_keys=True) -- not canonical JSON.
  """
  if payload is None:
    payload = dsse_payload(model_dict(body))
  sigs = []
  for key in signers:
    sig = sslib_keys.create_signature(key, pae(DSSE_PAYLOAD_TYPE, payload))
    sigs.append({"keyid": sig["keyid"], "sig": base64.b64encode(bytes.fromhex(sig["sig"])).decode()})
  env = {"payload": base64.b64encode(payload).decode(), "payloadType": DSSE_PAYLOAD_TYPE, "signatures": sigs}
  return json.dumps(env, indent=1, sort_keys=True)


def dsse_payload(body_dict):
  return json.dumps(body_dict, sort_keys=True).encode("utf-8")


def model_dict(body):
  """What the reference model would write for this dict (defaults filled, unknown fields dropped)."""
  if body["_type"] == "link":
    return json.loads(str(Metablock(signed=Link.read(copy.deepcopy(body)))))["signed"]
  return json.loads(str(Metablock(signed=Layout.read(copy.deepcopy(body)))))["signed"]


def demo_layout(keys, bob="bob", carl="carl", expires=FAR_FUTURE, package_pubkeys=None,
                package_threshold=1, package_command=None, untar_run=None, untar_products=None,
                package_products=None, tarball="demo-project.tar.gz"):
  """The classic demo layout (rules as in in-toto/demo's create_layout.py, commands local)."""
  functionaries = {bob, carl} | set(package_pubkeys or [])
  return {
      "_type": "layout",
      "expires": expires,
      "readme": "custody interop corpus: the in-toto demo supply chain",
      "keys": {keys.keyid(n): keys.public[n] for n in sorted(functionaries)},
      "steps": [
          {
              "_type": "step",
              "name": "clone",
              "expected_materials": [],
              "expected_products": [["CREATE", "demo-project/foo.py"], ["DISALLOW", "*"]],
              "pubkeys": [keys.keyid(bob)],
              "expected_command": CLONE_COMMAND,
              "threshold": 1,
          },
          {
              "_type": "step",
              "name": "update-version",
              "expected_materials": [["MATCH", "demo-project/*", "WITH", "PRODUCTS", "FROM", "clone"],
                                     ["DISALLOW", "*"]],
              "expected_products": [["MODIFY", "demo-project/foo.py"], ["DISALLOW", "*"]],
              "pubkeys": [keys.keyid(bob)],
              "expected_command": [],
              "threshold": 1,
          },
          {
              "_type": "step",
              "name": "package",
              "expected_materials": [["MATCH", "demo-project/*", "WITH", "PRODUCTS", "FROM", "update-version"],
                                     ["DISALLOW", "*"]],
              "expected_products": package_products or [["CREATE", tarball], ["DISALLOW", "*"]],
              "pubkeys": [keys.keyid(n) for n in (package_pubkeys or [carl])],
              "expected_command": package_command or [tarball if a == "demo-project.tar.gz" else a
                                                      for a in TAR_COMMAND],
              "threshold": package_threshold,
          },
      ],
      "inspect": [
          {
              "_type": "inspection",
              "name": "untar",
              "expected_materials": [
                  ["MATCH", tarball, "WITH", "PRODUCTS", "FROM", "package"],
                  # The inspection records the whole working directory.
                  ["ALLOW", ".keep"],
                  ["ALLOW", "alice.pub"],
                  ["ALLOW", "root.layout"],
                  ["DISALLOW", "*"],
              ],
              "expected_products": untar_products or [
                  ["MATCH", "foo.py", "IN", "demo-project", "WITH", "PRODUCTS", "IN", "demo-project",
                   "FROM", "update-version"],
                  ["ALLOW", "demo-project/.git/*"],
                  ["ALLOW", tarball],
                  ["ALLOW", ".keep"],
                  ["ALLOW", "alice.pub"],
                  ["ALLOW", "root.layout"],
                  ["DISALLOW", "*"],
              ],
              "run": untar_run or ["tar", "xzf", tarball],
          }
      ],
  }


# ---------------------------------------------------------------- recording the demo chain

def record_chain(build_dir, variant, record_streams=False, tamper_foo_before_package=False):
  """Records clone, update-version and package in build_dir/variant with the reference runlib.

  Returns unsigned link bodies and the path of the tarball; callers sign copies as needed.
  """
  root = os.path.join(build_dir, variant)
  os.makedirs(os.path.join(root, "origin", "demo-project"))
  with open(os.path.join(root, "origin", "demo-project", "foo.py"), "w") as f:
    f.write(FOO_V0)
  ws = os.path.join(root, "ws")
  os.makedirs(ws)
  cwd = os.getcwd()
  os.chdir(ws)
  try:
    clone = runlib.in_toto_run("clone", [], ["demo-project"], CLONE_COMMAND)
    # update-version is observed, not wrapped (in-toto-record start/stop, no command).
    with open("demo-project/foo.py") as f:
      before = f.read()
    materials = runlib.record_artifacts_as_dict(["demo-project"])
    with open("demo-project/foo.py", "w") as f:
      f.write(before.replace("foo-v0", "foo-v1"))
    products = runlib.record_artifacts_as_dict(["demo-project"])
    update = Link(name="update-version", materials=materials, products=products)
    if tamper_foo_before_package:
      with open("demo-project/foo.py", "a") as f:
        f.write("import os; os.system('echo pwned')\n")
    package = runlib.in_toto_run("package", ["demo-project"], ["demo-project.tar.gz"], TAR_COMMAND,
                                 record_streams=record_streams)
  finally:
    os.chdir(cwd)
  return {
      "clone": json.loads(str(clone))["signed"],
      "update-version": json.loads(str(Metablock(signed=update)))["signed"],
      "package": json.loads(str(package))["signed"],
      "tarball": os.path.join(ws, "demo-project.tar.gz"),
  }


# ---------------------------------------------------------------- reference run + expected.json

class ReferenceRun:
  """One in-toto-verify run in a forked child, in a scratch copy of verify_dir.

  The child runs in_toto.in_toto_verify.main() -- the function /usr/bin/in-toto-verify
  calls -- with the same argv, so behaviour and output are the CLI's; forking from
  this interpreter, where in-toto is already imported, saves ~0.4 s of startup per case.
  """

  def __init__(self, verify_dir, layout_keys, key_types, params=None):
    self.scratch = tempfile.mkdtemp(prefix="ref-")
    self.work = os.path.join(self.scratch, "w")
    shutil.copytree(verify_dir, self.work)
    self.output_path = os.path.join(self.scratch, "output.txt")
    # Key paths are relative to verify_dir; the scratch copy lives elsewhere.
    key_paths = [k if "/" not in k else os.path.normpath(os.path.join(verify_dir, k)) for k in layout_keys]
    self.argv = ["in-toto-verify", "--layout", "root.layout", "--layout-keys"] + key_paths
    if key_types:
      self.argv += ["--key-types"] + key_types
    self.params = params
    self.pid = None

  def start(self):
    self.pid = os.fork()
    if self.pid:
      return self
    code = 1
    try:
      fd = os.open(self.output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
      os.dup2(fd, 1)
      os.dup2(fd, 2)
      os.chdir(self.work)
      if self.params:
        verify_with_params(self.argv[1:], self.params)
      else:
        sys.argv = self.argv
        in_toto_verify_cli.main()
      code = 0
    except SystemExit as e:
      code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # a crash of this harness, not a verdict
      import traceback
      traceback.print_exc()
      code = 99
    finally:
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(code)

  def finish(self, status):
    try:
      with open(self.output_path, encoding="utf-8") as f:
        output = f.read()
    finally:
      shutil.rmtree(self.scratch, ignore_errors=True)
    code = os.waitstatus_to_exitcode(status)
    if code == 99:
      raise RuntimeError("reference run crashed:\n" + output)
    return code, output


def run_references(runs, parallel=2):
  """Runs ReferenceRun objects, at most `parallel` at once; returns [(code, output)] in order."""
  pending = list(enumerate(runs))
  running = {}
  results = [None] * len(runs)
  while pending or running:
    while pending and len(running) < parallel:
      i, run = pending.pop(0)
      running[run.start().pid] = (i, run)
    pid, status = os.wait()
    if pid not in running:
      continue  # an inspection's grandchild is never ours to reap, but be safe
    i, run = running.pop(pid)
    results[i] = run.finish(status)
  return results


ERROR_LINE = re.compile(r"^\(in-toto-verify\) (\w+): (.*)$", re.M | re.S)


def parse_reference_output(code, output):
  result = {"exitCode": code, "errorClass": None, "message": None, "fullMessage": None,
            "warnings": [], "rule": None, "itemName": None, "itemSourceType": None}
  lines = output.splitlines()
  error_at = next((i for i, l in enumerate(lines) if l.startswith("(in-toto-verify) ")), None)
  result["warnings"] = [l for l in lines[:error_at] if l.strip()]
  if error_at is None:
    return result
  m = ERROR_LINE.match("\n".join(lines[error_at:]))
  result["errorClass"] = m.group(1)
  full = m.group(2).rstrip("\n")
  result["fullMessage"] = full
  result["message"] = full.split("\n")[0]
  if result["errorClass"] == "RuleVerificationError":
    rule = re.match(r"^'((?:DISALLOW|REQUIRE) [^']*)'", result["message"])
    result["rule"] = rule.group(1) if rule else None
    item = re.search(r"Full trace for 'expected_(materials|products)' of item '([^']*)'", full)
    if item:
      result["itemSourceType"], result["itemName"] = item.group(1), item.group(2)
    artifacts = re.search(r"matched the following artifacts: (\[.*?\])", result["message"])
    if artifacts:
      result["artifacts"] = eval_py_list(artifacts.group(1))
    elif result["rule"] and result["rule"].startswith("REQUIRE "):
      result["artifacts"] = [result["rule"][len("REQUIRE "):]]
  step = re.match(r"^Step '([^']*)'", result["message"])
  if step:
    result["itemName"] = step.group(1)
  return result


def eval_py_list(text):
  """Parses a python repr of a list of str (only simple quoting occurs here)."""
  return [s[1:-1] for s in re.findall(r"'[^']*'", text)]


class Corpus:
  def __init__(self, out_dir):
    self.out = os.path.abspath(out_dir)
    self.jobs = []  # (name, description, verify_dir, layout_keys, key_types, extra)

  def case(self, name, description, files, layout_text, layout_keys=("alice",), keys=None,
           key_types=None, twin=None, note=None, params=None):
    """Writes OUT/name/verify with files {relpath: bytes|str|srcpath-tuple} and root.layout."""
    verify_dir = os.path.join(self.out, name, "verify")
    os.makedirs(verify_dir)
    for rel, content in files.items():
      path = os.path.join(verify_dir, rel)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      if isinstance(content, tuple):
        shutil.copyfile(content[0], path)
      else:
        with open(path, "wb") as f:
          f.write(content.encode("utf-8") if isinstance(content, str) else content)
    with open(os.path.join(verify_dir, "root.layout"), "w") as f:
      f.write(layout_text)
    key_files = []
    for i, key_name in enumerate(layout_keys):
      # The demo layout ALLOWs alice.pub in the inspection's working directory;
      # further layout keys live next to verify/ so the untar rules stay the same.
      if i == 0:
        rel = "alice.pub"
      else:
        os.makedirs(os.path.join(self.out, name, "layout-keys"), exist_ok=True)
        rel = "../layout-keys/" + key_name + ".pub"
      shutil.copyfile(keys.pub_path[key_name], os.path.normpath(os.path.join(verify_dir, rel)))
      key_files.append(rel)
    if key_types is None and any(keys.key_type[k] != "rsa" for k in layout_keys):
      key_types = [keys.key_type[k] for k in layout_keys]
    self.jobs.append({"name": name, "description": description, "verify_dir": verify_dir,
                      "layout_keys": key_files, "key_types": key_types, "twin": twin, "note": note,
                      "params": params})

  def run_all(self):
    # DSSE cases: in-toto 1.3.1 cannot read DSSE, so the verdict comes from the
    # metablock twin (same bodies, same keys, same tampering), i.e. what 1.4 does;
    # what 1.3.1 says about the DSSE files themselves is kept as reference131OnDsse.
    runs, slots = [], []
    for job in self.jobs:
      runs.append(ReferenceRun(job["twin"] or job["verify_dir"], job["layout_keys"], job["key_types"], job["params"]))
      slots.append((job, "main"))
      if job["twin"]:
        runs.append(ReferenceRun(job["verify_dir"], job["layout_keys"], job["key_types"]))
        slots.append((job, "dsse131"))
    outputs = {}
    for (job, kind), (code, output) in zip(slots, run_references(runs)):
      outputs[(job["name"], kind)] = parse_reference_output(code, output)

    results = []
    for job in self.jobs:
      expected = outputs[(job["name"], "main")]
      if job["twin"]:
        expected["reference"] = "derived: in-toto 1.4 DSSE semantics via the metablock twin on in-toto 1.3.1"
        expected["reference131OnDsse"] = outputs[(job["name"], "dsse131")]
      elif job["params"]:
        expected["reference"] = "in-toto 1.3.1 verifylib.in_toto_verify with substitution_parameters"
      else:
        expected["reference"] = "in-toto-verify 1.3.1"
      code_name, check = expected_failure(expected["errorClass"], expected["message"] or "")
      if code_name == "ARTIFACT_RULE" and expected["itemName"] == "untar":
        check = "inspection-rules"
      expected.update({
          "case": job["name"],
          "description": job["description"],
          "verdict": "pass" if expected["exitCode"] == 0 else "fail",
          "expectedCode": code_name,
          "expectedCheck": check,
          "layout": "root.layout",
          "layoutKeys": job["layout_keys"],
          "keyTypes": job["key_types"],
          "note": job["note"],
          "params": job["params"],
      })
      with open(os.path.join(self.out, job["name"], "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
      results.append(expected)
    with open(os.path.join(self.out, "cases.json"), "w") as f:
      json.dump([{"name": j["name"], "description": j["description"]} for j in self.jobs], f, indent=1)
    return results


# ---------------------------------------------------------------- the corpus

def build_corpus(out_dir):
  out_dir = os.path.abspath(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  build = os.path.join(out_dir, "_build")
  keys = Keys(os.path.join(out_dir, "keys"))
  for name, key_type in [("alice", "rsa"), ("bob", "rsa"), ("carl", "rsa"), ("eve", "rsa"),
                         ("dan", "ed25519"), ("alice_ed", "ed25519"), ("bob_ed", "ed25519"),
                         ("carl_ec", "ecdsa")]:
    keys.make(name, key_type)
  k = keys.private

  chain = record_chain(build, "base")
  streams_chain = record_chain(build, "streams", record_streams=True)
  tampered_chain = record_chain(build, "tampered", tamper_foo_before_package=True)
  clone, update, package = chain["clone"], chain["update-version"], chain["package"]
  tarball = (chain["tarball"],)

  def links(bob="bob", carl="carl", package_body=None, package_signer=None, package_name=None):
    """Files of a normal verify dir: three signed links and the tarball."""
    signer = package_signer or carl
    return {
        link_file("clone", keys.keyid(bob)): signed_metablock(clone, k[bob]),
        link_file("update-version", keys.keyid(bob)): signed_metablock(update, k[bob]),
        link_file("package", keys.keyid(package_name or signer)): signed_metablock(package_body or package, k[signer]),
        "demo-project.tar.gz": tarball,
    }

  layout = demo_layout(keys)
  good_layout = signed_metablock(layout, k["alice"])
  corpus = Corpus(out_dir)

  corpus.case("demo-good", "", links(), good_layout, keys=keys)

  files = links()
  files["demo-project.tar.gz"] = (tampered_chain["tarball"],)  # a valid tarball, other content
  corpus.case("product-changed", "", files, good_layout, keys=keys)

  files = links(package_body=tampered_chain["package"])
  files["demo-project.tar.gz"] = (tampered_chain["tarball"],)
  corpus.case("material-changed", "", files, good_layout, keys=keys)

  corpus.case("unauthorized-key", "", links(package_signer="eve"), good_layout, keys=keys)
  corpus.case("unauthorized-renamed", "", links(package_signer="eve", package_name="carl"), good_layout,
              keys=keys)

  files = links()
  edited = json.loads(files[link_file("package", keys.keyid("carl"))])
  edited["signed"]["products"]["demo-project.tar.gz"]["sha256"] = "0" * 64
  files[link_file("package", keys.keyid("carl"))] = json.dumps(edited, indent=1, sort_keys=True)
  corpus.case("link-edited", "", files, good_layout, keys=keys)

  files = links()
  extra = json.loads(files[link_file("package", keys.keyid("carl"))])
  extra["signed"]["custody-extra"] = {"note": "not part of the in-toto link model"}
  files[link_file("package", keys.keyid("carl"))] = json.dumps(extra, indent=1, sort_keys=True)
  corpus.case("link-unknown-field", "", files, good_layout, keys=keys)

  files = links(package_body=streams_chain["package"])
  files["demo-project.tar.gz"] = (streams_chain["tarball"],)
  assert "\n" in streams_chain["package"]["byproducts"]["stdout"].strip(), "tar -v printed one line?"
  corpus.case("link-streams-recorded", "", files, good_layout, keys=keys)

  files = links()
  name = link_file("package", keys.keyid("carl"))
  parsed = json.loads(files[name])
  reordered = {"signed": dict(reversed(list(parsed["signed"].items()))), "signatures": parsed["signatures"]}
  files[name] = json.dumps(reordered, separators=(",", ":"))
  corpus.case("link-reformatted", "", files, good_layout, keys=keys)

  noisy = copy.deepcopy(package)
  noisy["byproducts"] = {"stdout": "h\u00e9llo w\u00f6rld \u2713\n\u001b[0mdone\n", "stderr": "tab\there\r\n",
                         "return-value": 0}
  corpus.case("link-non-ascii-byproducts", "", links(package_body=noisy), good_layout, keys=keys)

  files = links()
  del files[link_file("update-version", keys.keyid("bob"))]
  corpus.case("missing-link", "", files, good_layout, keys=keys)

  corpus.case("layout-expired", "", links(), signed_metablock(demo_layout(keys, expires=PAST), k["alice"]),
              keys=keys)
  corpus.case("layout-wrong-key", "", links(), signed_metablock(layout, k["bob"]), keys=keys)
  corpus.case("layout-expired-and-wrong-key", "", links(),
              signed_metablock(demo_layout(keys, expires=PAST), k["bob"]), keys=keys)

  edited = json.loads(good_layout)
  edited["signed"]["readme"] = "edited after signing"
  corpus.case("layout-edited", "", links(), json.dumps(edited, indent=1, sort_keys=True), keys=keys)

  corpus.case("layout-two-signatures", "", links(), signed_metablock(layout, k["alice"], k["bob"]),
              layout_keys=("alice", "bob"), keys=keys)
  corpus.case("layout-second-key-unsigned", "", links(), good_layout, layout_keys=("alice", "bob"), keys=keys)
  corpus.case("layout-key-ed25519", "", links(), signed_metablock(layout, k["alice_ed"]),
              layout_keys=("alice_ed",), keys=keys)

  t2 = signed_metablock(demo_layout(keys, package_pubkeys=["carl", "dan"], package_threshold=2), k["alice"])
  files = links()
  files[link_file("package", keys.keyid("dan"))] = signed_metablock(package, k["dan"])
  corpus.case("threshold2-good", "", files, t2, keys=keys)
  corpus.case("threshold2-one-link", "", links(), t2, keys=keys)
  files = links()
  files[link_file("package", keys.keyid("dan"))] = files[link_file("package", keys.keyid("carl"))]
  corpus.case("threshold2-same-key-twice", "", files, t2, keys=keys)
  corpus.case("threshold2-duplicate-pubkey", "", links(),
              signed_metablock(demo_layout(keys, package_pubkeys=["carl", "carl"], package_threshold=2),
                               k["alice"]), keys=keys)
  files = links()
  other = copy.deepcopy(package)
  other["products"]["demo-project.tar.gz"]["sha256"] = "1" * 64
  files[link_file("package", keys.keyid("dan"))] = signed_metablock(other, k["dan"])
  corpus.case("threshold2-disagree", "", files, t2, keys=keys)

  corpus.case("command-mismatch", "", links(),
              signed_metablock(demo_layout(keys, package_command=["tar", "-czf", "demo-project.tar.gz",
                                                                  "demo-project"]), k["alice"]), keys=keys)
  corpus.case("inspection-fails", "", links(),
              signed_metablock(demo_layout(keys, untar_run=["tar", "xzf", "no-such-file.tar.gz"]), k["alice"]),
              keys=keys)
  # The inspection drops an extra file next to what it extracts.
  corpus.case("inspection-rule-fails", "", links(),
              signed_metablock(demo_layout(keys, untar_run=["sh", "-c", "tar xzf demo-project.tar.gz && "
                                                                         "echo x > demo-project/extra.txt"]),
                               k["alice"]), keys=keys)
  corpus.case("step-rule-require", "", links(),
              signed_metablock(demo_layout(keys, package_products=[["REQUIRE", "demo-project.zip"],
                                                                   ["CREATE", "demo-project.tar.gz"],
                                                                   ["DISALLOW", "*"]]), k["alice"]), keys=keys)

  # Parameter substitution: the 1.3.1 CLI has no option for it, so these two run
  # verifylib.in_toto_verify(substitution_parameters=...) -- what the CLI calls.
  param_layout = signed_metablock(demo_layout(keys, tarball="{TARBALL}"), k["alice"])
  corpus.case("params-good", "", links(), param_layout, keys=keys, params={"TARBALL": "demo-project.tar.gz"})
  corpus.case("params-wrong-value", "", links(), param_layout, keys=keys, params={"TARBALL": "other.tar.gz"})

  # Sublayout: carl's "link" for package is a layout delegating to one step, tar, done by dan.
  sublayout = {
      "_type": "layout",
      "expires": FAR_FUTURE,
      "readme": "package, delegated by carl",
      "keys": {keys.keyid("dan"): keys.public["dan"]},
      "steps": [{
          "_type": "step", "name": "tar",
          "expected_materials": [["ALLOW", "demo-project/*"], ["DISALLOW", "*"]],
          "expected_products": [["CREATE", "demo-project.tar.gz"], ["DISALLOW", "*"]],
          "pubkeys": [keys.keyid("dan")], "expected_command": TAR_COMMAND, "threshold": 1,
      }],
      "inspect": [],
  }
  tar_link = dict(package, name="tar")
  sub_dir = "package.{}".format(keys.short("carl"))

  def sub_files(sub_signer="carl", tar_signer="dan", with_tar=True):
    files = links()
    files[link_file("package", keys.keyid("carl"))] = signed_metablock(sublayout, k[sub_signer])
    if with_tar:
      files[os.path.join(sub_dir, link_file("tar", keys.keyid("dan")))] = signed_metablock(tar_link, k[tar_signer])
    return files

  corpus.case("sublayout-good", "", sub_files(), good_layout, keys=keys)
  corpus.case("sublayout-missing-link", "", sub_files(with_tar=False), good_layout, keys=keys)
  corpus.case("sublayout-wrong-signer", "", sub_files(sub_signer="eve"), good_layout, keys=keys)
  corpus.case("sublayout-link-wrong-signer", "", sub_files(tar_signer="eve"), good_layout, keys=keys)

  corpus.case("functionary-ed25519", "", links(bob="bob_ed"),
              signed_metablock(demo_layout(keys, bob="bob_ed"), k["alice"]), keys=keys)
  ec_layout = signed_metablock(demo_layout(keys, carl="carl_ec"), k["alice"])
  corpus.case("functionary-ecdsa", "", links(carl="carl_ec", package_signer="carl_ec"), ec_layout, keys=keys)
  files = links(carl="carl_ec", package_signer="carl_ec")
  edited = json.loads(files[link_file("package", keys.keyid("carl_ec"))])
  edited["signed"]["command"] = ["tar", "-zcvf", "evil.tar.gz", "demo-project"]
  files[link_file("package", keys.keyid("carl_ec"))] = json.dumps(edited, indent=1, sort_keys=True)
  corpus.case("functionary-ecdsa-edited", "", files, ec_layout, keys=keys)

  # DSSE (in-toto 1.4 format). Each case has a metablock twin in _twins/ that
  # 1.3.1 can verify: same bodies, same keys, equivalent tampering.
  twins = os.path.join(out_dir, "_twins")

  def twin(name, files, layout_text, layout_key_names=("alice",)):
    d = os.path.join(twins, name)
    os.makedirs(d)
    for rel, content in files.items():
      path = os.path.join(d, rel)
      if isinstance(content, tuple):
        shutil.copyfile(content[0], path)
      else:
        with open(path, "wb") as f:
          f.write(content.encode("utf-8") if isinstance(content, str) else content)
    with open(os.path.join(d, "root.layout"), "w") as f:
      f.write(layout_text)
    for i, key_name in enumerate(layout_key_names):
      shutil.copyfile(keys.pub_path[key_name], os.path.join(d, "alice.pub" if i == 0 else key_name + ".pub"))
    return d

  def dsse_links(package_payload=None):
    return {
        link_file("clone", keys.keyid("bob")): dsse_envelope(clone, k["bob"]),
        link_file("update-version", keys.keyid("bob")): dsse_envelope(update, k["bob"]),
        link_file("package", keys.keyid("carl")): dsse_envelope(package, k["carl"]),
        "demo-project.tar.gz": tarball,
    }

  corpus.case("dsse-links", "", dsse_links(), good_layout, keys=keys,
              twin=twin("dsse-links", links(), good_layout))
  dsse_layout = dsse_envelope(layout, k["alice"])
  corpus.case("dsse-layout", "", dsse_links(), dsse_layout, keys=keys,
              twin=twin("dsse-layout", links(), good_layout))

  files = dsse_links()
  env = json.loads(files[link_file("package", keys.keyid("carl"))])
  body = json.loads(base64.b64decode(env["payload"]))
  body["products"]["demo-project.tar.gz"]["sha256"] = "0" * 64
  env["payload"] = base64.b64encode(dsse_payload(body)).decode()
  files[link_file("package", keys.keyid("carl"))] = json.dumps(env, indent=1, sort_keys=True)
  twin_files = links()
  edited = json.loads(twin_files[link_file("package", keys.keyid("carl"))])
  edited["signed"]["products"]["demo-project.tar.gz"]["sha256"] = "0" * 64
  twin_files[link_file("package", keys.keyid("carl"))] = json.dumps(edited, indent=1, sort_keys=True)
  corpus.case("dsse-link-edited", "", files, good_layout, keys=keys,
              twin=twin("dsse-link-edited", twin_files, good_layout))

  env = json.loads(dsse_layout)
  body = json.loads(base64.b64decode(env["payload"]))
  body["readme"] = "edited after signing"
  env["payload"] = base64.b64encode(dsse_payload(body)).decode()
  edited = json.loads(good_layout)
  edited["signed"]["readme"] = "edited after signing"
  corpus.case("dsse-layout-edited", "", dsse_links(), json.dumps(env, indent=1, sort_keys=True), keys=keys,
              twin=twin("dsse-layout-edited", links(), json.dumps(edited, indent=1, sort_keys=True)))
  corpus.case("dsse-layout-wrong-key", "", dsse_links(), dsse_envelope(layout, k["bob"]), keys=keys,
              twin=twin("dsse-layout-wrong-key", links(), signed_metablock(layout, k["bob"])))

  descriptions = dict(CASES)
  for job in corpus.jobs:
    job["description"] = descriptions[job["name"]]
  assert [j["name"] for j in corpus.jobs] == [c[0] for c in CASES], "CASES out of sync with build_corpus"
  return corpus.run_all()


# ---------------------------------------------------------------- layouts for the recording tests

def load_public_key(path):
  """A public key as in-toto embeds it: RSA/ed25519/ecdsa PEM (SPKI) or a securesystemslib JSON file."""
  with open(path, "rb") as f:
    data = f.read()
  text = data.decode("utf-8")
  if text.lstrip().startswith("{"):
    obj = json.loads(text)
    obj.pop("keyid", None)
    if "private" in obj.get("keyval", {}):
      obj["keyval"] = {"public": obj["keyval"]["public"]}
    key, _ = sslib_keys.format_metadata_to_key(obj)
    return key
  from cryptography.hazmat.primitives import serialization
  from cryptography.hazmat.primitives.asymmetric import ed25519
  pub = serialization.load_pem_public_key(data)
  if isinstance(pub, ed25519.Ed25519PublicKey):
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key, _ = sslib_keys.format_metadata_to_key({
        "keytype": "ed25519", "scheme": "ed25519",
        "keyid_hash_algorithms": ["sha256", "sha512"], "keyval": {"public": raw.hex()}})
    return key
  from cryptography.hazmat.primitives.asymmetric import ec
  if isinstance(pub, ec.EllipticCurvePublicKey):
    scheme = {"secp256r1": "ecdsa-sha2-nistp256", "secp384r1": "ecdsa-sha2-nistp384"}[pub.curve.name]
    # securesystemslib's PEM import trims to header..footer (no trailing newline), so
    # the keyid differs from in-toto-keygen's JSON file of the same key, which keeps it.
    return sslib_keys.import_ecdsakey_from_public_pem(text, scheme)
  return sslib_keys.import_rsakey_from_public_pem(text)


def check_dsse(args):
  """Verifies a DSSE link/layout as in-toto 1.4 would: signature over PAE of the raw payload, then the model."""
  key = load_public_key(args.key)
  with open(args.file) as f:
    env = json.load(f)
  payload = base64.b64decode(env["payload"])
  signed_bytes = pae(env["payloadType"], payload)
  valid = False
  for sig in env.get("signatures", []):
    if sig.get("keyid") != key["keyid"]:
      continue
    hex_sig = base64.b64decode(sig["sig"]).hex()
    try:
      valid = sslib_keys.verify_signature(key, {"keyid": key["keyid"], "sig": hex_sig}, signed_bytes)
    except Exception:  # malformed signature counts as invalid
      valid = False
    break
  body = json.loads(payload)
  model = Link.read(body) if body.get("_type") == "link" else Layout.read(body)
  model.validate()
  print(json.dumps({"valid": bool(valid), "payloadType": env["payloadType"], "type": body.get("_type"),
                    "name": body.get("name"), "keyid": key["keyid"]}))


def load_private_key(path):
  with open(path) as f:
    text = f.read()
  if text.lstrip().startswith("{"):
    obj = json.loads(text)
    key, _ = sslib_keys.format_metadata_to_key(obj)
    return key
  return interface.import_rsa_privatekey_from_file(path)


def write_demo_layout(args):
  class Named:  # adapter so demo_layout can look keys up by role name
    public, key_type = {}, {}

    def keyid(self, n):
      return self.public[n]["keyid"]
  named = Named()
  named.public = {"bob": load_public_key(args.bob), "carl": load_public_key(args.carl)}
  layout = demo_layout(named, expires=args.expires)
  text = signed_metablock(layout, load_private_key(args.owner))
  with open(args.out, "w") as f:
    f.write(text)
  print(json.dumps({"bob": named.keyid("bob"), "carl": named.keyid("carl")}))


def verify_with_params(argv, params):
  """in-toto-verify's main, plus substitution parameters (1.3.1's CLI has no such option)."""
  from in_toto import verifylib
  args = in_toto_verify_cli.create_parser().parse_args(argv)
  try:
    layout = Metablock.load(args.layout)
    key_dict = interface.import_publickeys_from_file(args.layout_keys, args.key_types)
    verifylib.in_toto_verify(layout, key_dict, args.link_dir, substitution_parameters=params)
  except Exception as e:  # the CLI's report line
    in_toto_verify_cli.LOG.error("(in-toto-verify) {0}: {1}".format(type(e).__name__, e))
    sys.exit(1)
  sys.exit(0)


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="cmd", required=True)
  p = sub.add_parser("corpus")
  p.add_argument("out_dir")
  sub.add_parser("list")
  p = sub.add_parser("layout", help="write the demo layout signed by OWNER (stdout: embedded keyids)")
  p.add_argument("--owner", required=True, help="layout owner's private key (RSA PEM or sslib JSON)")
  p.add_argument("--bob", required=True, help="clone/update-version functionary public key")
  p.add_argument("--carl", required=True, help="package functionary public key")
  p.add_argument("--expires", default=FAR_FUTURE)
  p.add_argument("--out", required=True)
  p = sub.add_parser("check-dsse", help="verify a DSSE envelope's signature by KEY as in-toto 1.4 would (stdout: JSON)")
  p.add_argument("file")
  p.add_argument("--key", required=True, help="public key: PEM (RSA, ed25519, ecdsa) or securesystemslib JSON")
  args = parser.parse_args()
  if args.cmd == "list":
    print(json.dumps([{"name": n, "description": d} for n, d in CASES]))
  elif args.cmd == "corpus":
    started = datetime.datetime.now()
    results = build_corpus(args.out_dir)
    seconds = (datetime.datetime.now() - started).total_seconds()
    for r in results:
      print("{:32} exit {} {} {}".format(r["case"], r["exitCode"], r["errorClass"] or "-",
                                         (r["message"] or "")[:100]), file=sys.stderr)
    print("corpus: {} cases in {:.1f}s".format(len(results), seconds), file=sys.stderr)
  elif args.cmd == "check-dsse":
    check_dsse(args)
  else:
    write_demo_layout(args)


if __name__ == "__main__":
  main()
