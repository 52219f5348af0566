// secaudit starter YARA rules (written for this project).
rule EICAR_test_file
{
    meta:
        description = "EICAR anti-virus test file (harmless, used to prove the virus check works)"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar at 0
}
