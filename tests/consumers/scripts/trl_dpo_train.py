"""Run in the Axolotl environment (which holds TRL): DPOTrainer trains a few steps on a pairs config.

    python trl_dpo_train.py REPO CONFIG MODEL OUT STEPS

Prints one JSON line: the losses logged, and the decoded prompt of every tokenized row.
The dataset is loaded with ``load_dataset`` and handed to DPOTrainer as it is: no conversion.
"""

import json
import sys

from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer

repository, config, model_path, out, steps = sys.argv[1:6]
dataset = load_dataset(repository, config, split="train")
tokenizer = AutoTokenizer.from_pretrained(model_path)
model = AutoModelForCausalLM.from_pretrained(model_path)
arguments = DPOConfig(
    output_dir=out,
    max_steps=int(steps),
    per_device_train_batch_size=2,
    learning_rate=1e-4,
    logging_steps=1,
    report_to=[],
    save_strategy="no",
    use_cpu=True,
    seed=0,
)
trainer = DPOTrainer(model=model, args=arguments, train_dataset=dataset, processing_class=tokenizer)
trainer.train()
tokenized = trainer.train_dataset
prompt_column = next(name for name in ("prompt_ids", "prompt_input_ids") if name in tokenized.column_names)
print(
    json.dumps(
        {
            "losses": [entry["loss"] for entry in trainer.state.log_history if "loss" in entry],
            "columns": tokenized.column_names,
            "prompts": [tokenizer.decode(row[prompt_column]) for row in tokenized],
            "hashes": list(dataset["conversation_hash"]),
            "turns": list(dataset["turn_index"]),
        }
    )
)
