from sendflowr.cli import main

main()
