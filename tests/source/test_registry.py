"""The DGM registry: one entry per model of the paper's Appendix C, looked up any way a user names it."""

from __future__ import annotations

import json

import pytest

from wildchat50m.registry import CONFIG_NAME, RegistryError, UnknownDGMError, load_registry

# The oracle: Appendix C of the paper, as corrected in shared/reference/paper-facts.md.
APPENDIX_C = """
NVLM-D-72B Llama-3.3-70B-Instruct Llama-3.1-8B-Instruct Llama-3.1-70B-Instruct Yi-1.5-34B-Chat
c4ai-command-r-plus-08-2024 mistral-7b-sft-beta Llama-3-8B-Magpie-Align-v0.2
Llama-3-8B-Magpie-Pro-SFT-200K-v0.1 Llama-3-8B-OpenHermes-243K Llama-3-8B-ShareGPT-112K
Llama-3-8B-Tulu-330K Llama-3-8B-Ultrachat-200K Llama-3-8B-WildChat Llama-3-8B-WizardLM-196K Athene-70B
Qwen2-7B-Instruct Qwen2.5-14B-Instruct Qwen2.5-72B-Instruct Qwen2.5-Coder-32B-Instruct glm-4-9b-chat
AI21-Jamba-1.5-Mini gemma-2-27b-it gemma-2-9b-it internlm2_5-20b-chat Llama-2-7b-chat-hf Llama-2-13b-chat-hf
Ministral-8B-Instruct-2410 Mistral-Nemo-Instruct-2407 Mixtral-8x7B-Instruct-v0.1
Llama-3.1-Nemotron-70B-Instruct-HF Mistral-7B-magpie-v1.0 Mistral-7B-sharegpt-vicuna-v1.0 Mistral-7B-tulu
Mistral-7B-wizardlm-v1.0 Llama-3-Base-8B-SFT-CPO Llama-3-Base-8B-SFT-DPO Llama-3-Base-8B-SFT-IPO
Llama-3-Base-8B-SFT-KTO Llama-3-Base-8B-SFT-ORPO Llama-3-Base-8B-SFT-RDPO Llama-3-Base-8B-SFT-RRHF
Mistral-7B-Base-SFT-CPO Mistral-7B-Base-SFT-DPO Mistral-7B-Base-SFT-IPO Mistral-7B-Base-SFT-KTO
Mistral-7B-Base-SFT-RDPO Mistral-7B-Base-SFT-RRHF Mistral-7B-Base-SFT-SLiC-HF Mistral-7B-Base-SFT-SimPO
OpenHermes-2-Mistral-7B OpenHermes-2.5-Mistral-7B
""".split()  # noqa: SIM905 (a paper list reads best as text)
OPEN_ORGANISATION = {
    "Mistral-7B-magpie-v1.0",
    "Mistral-7B-sharegpt-vicuna-v1.0",
    "Mistral-7B-tulu",
    "Mistral-7B-wizardlm-v1.0",
}
PAPER_ABBREVIATIONS = {
    "Q72": "Qwen2.5-72B-Instruct",
    "L8I": "Llama-3.1-8B-Instruct",
    "L70": "Llama-3.3-70B-Instruct",
    "Q7": "Qwen2-7B-Instruct",
    "CRP": "c4ai-command-r-plus-08-2024",
    "JMB": "AI21-Jamba-1.5-Mini",
}


def test_every_appendix_c_model_and_the_original_answers_are_registered():
    registry = load_registry()
    tails = {dgm.hf_id.rsplit("/", 1)[-1] for dgm in registry if dgm.hf_id}
    assert set(APPENDIX_C) <= tails
    assert len(registry) == len(APPENDIX_C) + 1
    (original,) = [dgm for dgm in registry if dgm.post_training == "original"]
    assert original.hf_id is None and original.generation is None


def test_config_names_are_valid_hub_config_names_and_unique_ignoring_case():
    configs = load_registry().configs
    assert all(CONFIG_NAME.match(config) for config in configs)
    assert len({config.casefold() for config in configs}) == len(configs)
    assert "Qwen2.5-72B" in configs


def test_an_open_organisation_is_marked_unconfirmed_never_invented():
    registry = load_registry()
    for name in OPEN_ORGANISATION:
        dgm = registry.get(name)
        assert dgm.hf_id == name and not dgm.hf_id_confirmed
    confirmed = [dgm for dgm in registry if dgm.hf_id and dgm.hf_id_confirmed]
    assert all("/" in dgm.hf_id for dgm in confirmed)


@pytest.mark.parametrize("abbreviation,tail", PAPER_ABBREVIATIONS.items())
def test_lookup_by_config_hub_id_or_abbreviation_ignores_case(abbreviation, tail):
    registry = load_registry()
    dgm = registry.get(abbreviation.lower())
    assert dgm.abbreviation == abbreviation
    assert dgm.hf_id.endswith("/" + tail)
    assert registry.get(dgm.hf_id.upper()) is dgm
    assert registry.get(tail) is dgm
    assert registry.get(dgm.config.swapcase()) is dgm


def test_generation_defaults_follow_the_paper():
    registry = load_registry()
    assert registry.get("Q72").generation.max_model_len == 20_000
    assert registry.get("L70").generation.max_model_len == 8_192
    assert registry.get("Llama-2-7b-chat-hf").generation.max_model_len == 2_048
    for dgm in registry:
        if dgm.generation is None:
            continue
        gen = dgm.generation
        assert 2_048 <= gen.max_model_len <= 20_000
        assert 0.3 <= gen.temperature <= 1.2
        assert gen.tensor_parallel_size in (1, 2, 4, 8)
        assert gen.max_new_tokens == int(0.2 * gen.max_model_len)
        assert gen.max_input_tokens + gen.max_new_tokens <= gen.max_model_len


def test_an_unknown_name_fails_with_the_closest_names():
    with pytest.raises(UnknownDGMError) as error:
        load_registry().get("qwen2.5-27b")
    assert "Qwen2.5-72B" in str(error.value)
    assert "wildchat50m dgms" in str(error.value)


def test_users_add_and_override_models_from_their_own_file(tmp_path, monkeypatch):
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        """
dgms:
  - config: My-Tiny-Chat
    hf_id: me/tiny-chat
    family: tiny
    params_b: 0.001
    license: apache-2.0
    post_training: sft
    generation: {max_model_len: 512, tensor_parallel_size: 1, dtype: float32, quantization: null,
                 temperature: 0.7, top_p: 0.9, max_new_tokens: 102}
  - config: qwen2.5-72b
    override: true
    hf_id: Qwen/Qwen2.5-72B-Instruct
    abbreviation: Q72
    family: qwen2.5
    params_b: 72.7
    license: qwen
    post_training: instruct
    generation: {max_model_len: 32768, tensor_parallel_size: 8, dtype: bfloat16, quantization: fp8,
                 temperature: 0.7, top_p: 0.8, max_new_tokens: 6553}
"""
    )
    registry = load_registry([extra])
    assert registry.get("me/tiny-chat").config == "My-Tiny-Chat"
    assert registry.get("Q72").generation.max_model_len == 32_768
    assert len(registry) == len(load_registry()) + 1

    monkeypatch.setenv("WILDCHAT50M_REGISTRY", str(extra))
    assert "My-Tiny-Chat" in load_registry()


def test_a_user_entry_that_collides_must_say_override(tmp_path):
    clash = tmp_path / "clash.yaml"
    clash.write_text("dgms:\n  - {config: QWEN2.5-72B, family: x, license: mit, post_training: original}\n")
    with pytest.raises(RegistryError, match="override: true"):
        load_registry([clash])
    bad = tmp_path / "bad.yaml"
    bad.write_text("dgms:\n  - {config: 'has space', family: x, license: mit, post_training: original}\n")
    with pytest.raises(RegistryError, match="not a valid Hub config name"):
        load_registry([bad])


def test_dgms_command_prints_the_table_and_json(cli_in_process):
    table = cli_in_process("dgms").stdout
    assert "Qwen2.5-72B" in table and "Q72" in table and "(org unconfirmed)" in table
    entries = json.loads(cli_in_process("dgms", "--json").stdout)
    assert {e["config"] for e in entries} == set(load_registry().configs)
    shown = json.loads(cli_in_process("dgms", "--show", "crp", "--json").stdout)
    assert shown[0]["hf_id"].endswith("c4ai-command-r-plus-08-2024")
    failure = cli_in_process("dgms", "--show", "nope-70b", expect=1)
    assert "Closest names" in failure.stderr
