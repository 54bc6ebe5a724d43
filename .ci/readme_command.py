"""Print the Nth ```bash block of README.md's "## Try it" section (N from 0), as written.

CI runs the README's commands through this, so that what a newcomer pastes is what is tested.
"""

import os
import re
import sys

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")

with open(README, encoding="utf-8") as file:
    section = file.read().split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
print(blocks[int(sys.argv[1])].strip())
