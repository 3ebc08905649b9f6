from __future__ import annotations

from medfed.node.registry.diagnoses_csv import parse, summary

HEADER = "hadm_id,icd_code,icd_version,seq_num\n"


def test_rows_in_the_seed_shape_are_read_with_their_line_numbers() -> None:
    rows, problems = parse(
        "\ufeffsubject_id,HADM_ID,ICD Code,icd_version,seq_num\n7,1001,I214,10,1\n\n7,1001,4280,9,2\n"
    )
    assert problems == []
    assert [(r.line, r.hadm_id, r.code.code, r.seq_num) for r in rows] == [
        (2, "1001", "I21.4", 1),
        (4, "1001", "428.0", 2),
    ]


def test_every_problem_is_found_and_named_by_line() -> None:
    text = (
        HEADER
        + "1001,I99.999,10,1\n1001,4280,10,2\n1001,I10,10,x\n1001,I10,10,3\n1001,E11.9,10,3\n1002,I10\n"
    )
    _, problems = parse(text)
    messages = [str(p) for p in problems]
    assert messages[0].startswith("line 2: I99.999 is not in the ICD-10-CM code set")
    assert messages[1].startswith("line 3: 4280 is not an ICD-10-CM code")
    assert messages[2] == "line 4: seq_num must be a whole number, not 'x'"
    assert messages[3] == "line 6: admission 1001 has seq_num 3 twice (also line 5)"
    assert messages[4] == "line 7: 2 cells where the header has 4"
    assert summary(problems).startswith("nothing was imported: line 2:")


def test_a_wrong_header_or_an_empty_file_is_refused() -> None:
    _, problems = parse("hadm,code\n1,I10\n")
    assert "missing hadm_id, icd_code, icd_version, seq_num" in str(problems[0])
    assert "unexpected hadm, code" in str(problems[0])
    assert "the file is empty" in str(parse("")[1][0])
    assert "no diagnoses" in str(parse(HEADER)[1][0])
