from procman.cli.app import main

main()
