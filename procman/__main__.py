from procman.cli import main

main()
