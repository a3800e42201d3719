"""The training corpus: the King James Bible (public domain) from Debian's bible-kjv package.

`bible "Gen1:1-Rev22:21"` prints each chapter as a heading ("Genesis 1") followed by numbered verses wrapped at 80
columns. Each chapter becomes one paragraph block: its heading line, then one line per verse without its number.
Chapters are split into training and held-out sets by their position: every HOLDOUT_EVERY-th chapter (1189 in all)
is held out, so both sets span the whole book and its styles.
"""
import re
import shutil
import subprocess

HOLDOUT_EVERY = 40
HOLDOUT_OFFSET = 17

_VERSE = re.compile(r"^\s+(\d+) (.*)$")


def read_bible():
    if shutil.which("bible") is None:
        raise SystemExit("the `bible` command is missing: apt-get install bible-kjv")
    out = subprocess.run(["bible", "Gen1:1-Rev22:21"], check=True, capture_output=True, text=True).stdout
    chapters = []
    heading = None
    verses = []
    for line in out.splitlines():
        if not line.strip():
            continue
        m = _VERSE.match(line)
        if m:
            verses.append(m.group(2).strip())
        elif line.startswith(" ") or (verses and not re.match(r"^[1-3]? ?[A-Z][A-Za-z ]+ \d+$", line)):
            # a wrapped verse continues on the next line
            verses[-1] += " " + line.strip()
        else:
            if heading is not None:
                chapters.append(heading + "\n" + "\n".join(verses) + "\n")
            heading = line.strip()
            verses = []
    if heading is not None:
        chapters.append(heading + "\n" + "\n".join(verses) + "\n")
    return chapters


def split(chapters):
    train, heldout = [], []
    for i, c in enumerate(chapters):
        (heldout if i % HOLDOUT_EVERY == HOLDOUT_OFFSET else train).append(c)
    return "\n".join(train), "\n".join(heldout)


if __name__ == "__main__":
    import sys

    ch = read_bible()
    tr, ho = split(ch)
    if len(sys.argv) == 3 and sys.argv[1] == "--train-out":
        # the training chapters as one text file: calibration text for `nemotron4j quantize --calibration`
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            f.write(tr)
        print(len(tr), "training chars written to", sys.argv[2])
    elif len(sys.argv) == 1:
        print(len(ch), "chapters;", len(tr), "training chars;", len(ho), "held-out chars")
        print(ch[0][:300])
        print(ch[-1][-300:])
    else:
        raise SystemExit("usage: corpus.py [--train-out FILE]")
