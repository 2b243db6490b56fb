"""The README block extractor: commands as a reader copies them (continuations, heredocs, comments)."""

from hypothesis import given
from hypothesis import strategies as st
from tests.docs.blocks import logical_lines, shell_blocks
from tests.docs.test_readme_commands import command_text

DOC = """# Title

## Section

```bash
trilho a --x 1 \\
    --y 2   # a comment
cat > f.yaml <<'YAML'
k: v   # kept: inside the heredoc
YAML
trilho b
```

```yaml
not: a shell block
```
"""


def test_blocks_join_continuations_and_keep_heredocs_whole():
    (block,) = shell_blocks(DOC)
    assert block.heading == "Section" and block.line == 5
    assert block.commands == (
        "trilho a --x 1 --y 2   # a comment",
        "cat > f.yaml <<'YAML'\nk: v   # kept: inside the heredoc\nYAML",
        "trilho b",
    )
    assert command_text(block.commands[0]) == "trilho a --x 1 --y 2"
    assert command_text(block.commands[1]) == block.commands[1]


def test_a_hash_inside_quotes_is_not_a_comment():
    assert command_text("""trilho eval check default "card # 4111"  # exit 1""") == (
        'trilho eval check default "card # 4111"'
    )
    assert command_text("curl 'http://x/#frag'") == "curl 'http://x/#frag'"


words = st.text(alphabet="abcdefgh-=.", min_size=1, max_size=6)


@given(st.lists(st.lists(words, min_size=1, max_size=4), min_size=1, max_size=5))
def test_every_word_survives_the_split_in_order(commands):
    text = "\n".join(" \\\n    ".join(parts) for parts in commands)
    assert logical_lines(text) == [" ".join(parts) for parts in commands]
