"""What the test process spends CPU on that no test is about (installed once,
by the conftest): measured with py-spy on the crash-at-every-write tests.

- RSA key generation (~50-100 ms a key): moto makes a 2048-bit RSA key for
  every KMS key, symmetric ones included (moto/kms/models.py: Key.__init__ ->
  generate_private_key, used only by Sign/Verify/GetPublicKey, which AWS
  refuses on a symmetric key), and for every ACM certificate it issues. In
  this process, a key of one size is generated once and reused: moto's keys
  and certificates stay well-formed, only their key material is shared.
  Nothing of fablink_ops generates keys.
  moto's ACM then parses each certificate's key back (an RSA key check,
  ~30 ms): done once a distinct key.
- botocore builds a new client class for every client (one method per
  operation: ~600 for EC2), and every Target makes its own clients. The class
  depends only on the service model and on the session's
  ``creating-client-class`` handlers (boto3's own), so one class per service,
  API version and session is reused; so is the parsed service model (read
  only once built; its operation models and endpoint-discovery lookup are
  cached on it, and rebuilt for every client otherwise). The client
  instances (their events, hooks, meter, config) are still each Target's own.
- Every botocore session builds its own data loader, which parses
  botocore's JSON (endpoints, each service model: EC2's is ~1 MB) again; the
  product makes a session per sandbox Target (target.sandbox_session) and
  tests make many Targets. One loader per data path is shared: it only
  caches what it reads from botocore's (unchanging) data files.
- botocore parses a service's endpoint rule set into a new EndpointProvider
  for every client; the provider is a pure function of the rule set (and
  caches its answers): one per rule set is shared.
- moto's EKS checks a role ARN's partition with a new boto3 Session on every
  CreateCluster and CreateNodegroup: one session answers the same
  (test_eks did this for itself; every whole-design provision builds EKS).
- moto lists its response class's methods (inspect.getmembers: hundreds for
  EC2) on every request to find the action's handler: listed once a class.
"""

from __future__ import annotations

import threading

_LOCK = threading.RLock()  # re-entered: a shared Session (below) is built under it, which builds a loader
_MADE: dict[tuple, object] = {}
_KEPT: list[object] = []  # what a key names by id() stays alive: its id is never reused


def _once(key: tuple, make, *keep):
    """What ``make()`` returned the first time ``key`` was asked for."""
    with _LOCK:
        if key not in _MADE:
            _MADE[key] = make()
            _KEPT.extend(keep)
        return _MADE[key]


def _reuse_rsa_keys() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    generate = rsa.generate_private_key

    def generate_once(public_exponent: int, key_size: int, backend=None):
        return _once(("rsa", public_exponent, key_size), lambda: generate(public_exponent=public_exponent, key_size=key_size))

    rsa.generate_private_key = generate_once


def _acm_checks_a_key_once() -> None:
    from moto.acm.models import CertBundle

    validate = CertBundle.validate_pk

    def validate_once(self):
        # A key that fails raises every time (nothing is kept for it).
        return _once(("acm-key", self.key), lambda: validate(self))

    CertBundle.validate_pk = validate_once


def _reuse_client_classes() -> None:
    from botocore.client import ClientCreator

    create = ClientCreator._create_client_class

    def create_once(self, service_name, service_model):
        emitter = self._event_emitter
        return _once(("class", service_name, service_model.api_version, id(emitter)),
                     lambda: create(self, service_name, service_model), emitter)

    ClientCreator._create_client_class = create_once


def _reuse_service_models() -> None:
    from botocore.client import ClientCreator

    load = ClientCreator._load_service_model

    def load_once(self, service_name, api_version=None):
        loader = self._loader
        return _once(("model", service_name, api_version, id(loader)), lambda: load(self, service_name, api_version), loader)

    ClientCreator._load_service_model = load_once


class _PathsOnce(list):
    """boto3 appends its data path to the loader's on every Session():
    shared, the list would grow by one a session."""

    def append(self, path) -> None:
        if path not in self:
            super().append(path)


def _share_botocore_loaders() -> None:
    import botocore.session

    create = botocore.session.create_loader

    def shared(search_path_string):
        loader = create(search_path_string)
        loader._search_paths = _PathsOnce(loader._search_paths)
        return loader

    botocore.session.create_loader = lambda search_path_string=None: _once(("loader", search_path_string), lambda: shared(search_path_string))


def _moto_lists_handlers_once() -> None:
    import functools

    import moto.core.responses as responses

    names = responses.method_names_from_class
    # Only ever asked "is this action one of them" (moto/core/responses.py).
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(lambda cls: frozenset(names(cls)))


def _share_endpoint_providers() -> None:
    import botocore.regions

    provider = botocore.regions.EndpointProvider

    def provider_once(ruleset_data, partition_data, excluded_params=None):
        return _once(("endpoints", id(ruleset_data), id(partition_data), frozenset(excluded_params or ())),
                     lambda: provider(ruleset_data, partition_data, excluded_params), ruleset_data, partition_data)

    botocore.regions.EndpointProvider = provider_once


def _moto_eks_one_session() -> None:
    import boto3
    import moto.eks.utils

    moto.eks.utils.Session = lambda: _once(("eks-session",), boto3.Session)


def install() -> None:
    _reuse_rsa_keys()
    _acm_checks_a_key_once()
    _reuse_client_classes()
    _reuse_service_models()
    _share_botocore_loaders()
    _share_endpoint_providers()
    _moto_lists_handlers_once()
    _moto_eks_one_session()
