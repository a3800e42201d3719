"""Byte-level BPE: a trainer, an encoder, and a writer of Hugging Face tokenizer.json files.

The tokenizer it writes is what the GPT-2 family uses: a Split pre-tokenizer with the GPT-2 pattern, then the
ByteLevel mapping of bytes to printable characters, then BPE merges applied by rank; the decoder maps the characters
back to bytes. Training counts the pre-tokenized words once, then merges the most frequent adjacent pair again and
again, updating only the words that contain it. Ties are broken by the pair's ids, so a run is deterministic.
"""
import heapq
import json
from collections import Counter

import regex

# The GPT-2 pre-tokenizer pattern, the same string the tokenizer.json carries (Java and Python regex agree on it).
SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_SPLIT = regex.compile(SPLIT_PATTERN)


def bytes_to_unicode():
    """GPT-2's map of the 256 byte values to printable characters (printable Latin-1 bytes map to themselves)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) \
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    table = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHAR = bytes_to_unicode()
CHAR_BYTE = {c: b for b, c in BYTE_CHAR.items()}


def pre_tokenize(text):
    return _SPLIT.findall(text)


class Bpe:
    """A trained byte-level BPE: token strings by id, merges by rank, and the special tokens in front."""

    def __init__(self, specials, tokens, merges):
        self.specials = list(specials)
        self.tokens = list(tokens)          # all tokens by id, specials first, then the 256 bytes, then merges
        self.merges = list(merges)          # (left, right) token strings, by rank
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.rank = {pair: r for r, pair in enumerate(self.merges)}
        self._cache = {}

    @staticmethod
    def train(text, vocab_size, specials, progress=None):
        tokens = list(specials) + [BYTE_CHAR[b] for b in range(256)]
        merges_needed = vocab_size - len(tokens)
        if merges_needed < 0:
            raise ValueError(f"vocab_size {vocab_size} is smaller than the {len(tokens)} special and byte tokens")
        counts = Counter(pre_tokenize(text))
        words = []      # each word as a list of token ids
        freq = []
        for w, c in counts.items():
            words.append([len(specials) + b for b in w.encode("utf-8")])
            freq.append(c)
        pair_count = Counter()
        pair_words = {}
        for wi, w in enumerate(words):
            for a, b in zip(w, w[1:]):
                pair_count[(a, b)] += freq[wi]
                pair_words.setdefault((a, b), set()).add(wi)
        heap = [(-c, p) for p, c in pair_count.items()]
        heapq.heapify(heap)
        merges = []
        while len(merges) < merges_needed and heap:
            negc, pair = heapq.heappop(heap)
            if pair_count.get(pair, 0) != -negc or negc == 0:
                continue            # stale heap entry
            new_id = len(tokens)
            tokens.append(tokens[pair[0]] + tokens[pair[1]])
            merges.append((tokens[pair[0]], tokens[pair[1]]))
            touched = set()
            for wi in pair_words.pop(pair, ()):
                w = words[wi]
                f = freq[wi]
                for a, b in zip(w, w[1:]):
                    pair_count[(a, b)] -= f
                    touched.add((a, b))
                merged = []
                i = 0
                while i < len(w):
                    if i + 1 < len(w) and w[i] == pair[0] and w[i + 1] == pair[1]:
                        merged.append(new_id)
                        i += 2
                    else:
                        merged.append(w[i])
                        i += 1
                words[wi] = merged
                for a, b in zip(merged, merged[1:]):
                    pair_count[(a, b)] += f
                    pair_words.setdefault((a, b), set()).add(wi)
                    touched.add((a, b))
            pair_count.pop(pair, None)
            for p in touched:
                c = pair_count.get(p, 0)
                if c > 0:
                    heapq.heappush(heap, (-c, p))
                elif p in pair_count:
                    del pair_count[p]
            if progress and len(merges) % 500 == 0:
                progress(len(merges), merges_needed)
        return Bpe(specials, tokens, merges)

    def _encode_word(self, word):
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts = [BYTE_CHAR[b] for b in word.encode("utf-8")]
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = self.rank.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            r, _ = best
            left, right = self.merges[r]
            out = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == left and parts[i + 1] == right:
                    out.append(left + right)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        ids = [self.ids[p] for p in parts]
        self._cache[word] = ids
        return ids

    def encode(self, text):
        out = []
        for w in pre_tokenize(text):
            out.extend(self._encode_word(w))
        return out

    def decode(self, ids):
        data = bytearray()
        for i in ids:
            if i < len(self.specials):
                data.extend(self.specials[i].encode("utf-8"))
            else:
                data.extend(CHAR_BYTE[c] for c in self.tokens[i])
        return data.decode("utf-8", errors="replace")

    def tokenizer_json(self):
        added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for i, s in enumerate(self.specials)]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": SPLIT_PATTERN}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ]},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": False,
                      "vocab": {t: i for i, t in enumerate(self.tokens)},
                      "merges": [[a, b] for a, b in self.merges]},
        }

    def write(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.tokenizer_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")
